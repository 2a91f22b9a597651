//! What operators see: request ids and metrics.

use crate::helpers::*;

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let first = app.get_index().await;
    let second = app.client.get(app.url("/nope")).send().await.unwrap();
    let id = |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&first).len(), 36);
    assert_ne!(id(&first), id(&second));
}

#[tokio::test]
async fn metrics_count_requests_logins_and_bcrypt_work() {
    for app in spawn_apps().await {
        app.post_users("bob@x.io", "pw").await;
        app.post_sessions("bob@x.io", "pw").await;
        app.post_sessions("bob@x.io", "wrong").await;
        app.get_profile(None).await;
        let res = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        let text = res.text().await.unwrap();
        for line in [
            r#"authd_http_requests_total{method="POST",route="/users",status="200"} 1"#,
            r#"authd_http_requests_total{method="POST",route="/sessions",status="401"} 1"#,
            r#"authd_http_requests_total{method="GET",route="/profile",status="403"} 1"#,
            r#"authd_logins_total{outcome="ok"} 1"#,
            r#"authd_logins_total{outcome="failed"} 1"#,
            "authd_bcrypt_job_duration_seconds_count 3",
            "# TYPE authd_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
