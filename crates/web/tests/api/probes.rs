//! `/healthz`, `/readyz` and `/metrics`: what probes and Prometheus see.

use serde_json::json;

use crate::helpers::*;

each_backend!(health_probes_answer_json);
async fn health_probes_answer_json(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(json_body(res, 200).await, json!({"status": "ok"}));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(json_body(res, 200).await, json!({"status": "ok"}));
}

each_backend!(metrics_count_requests_logins_and_hashing_jobs);
async fn metrics_count_requests_logins_and_hashing_jobs(backend: Backend) {
    let app = backend.spawn_app().await;
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
        "authd_hashing_job_duration_seconds_count 3",
        "# TYPE authd_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn invented_methods_and_paths_cannot_grow_the_metrics() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let requests = (0..3000).map(|n| {
        let method = reqwest::Method::from_bytes(format!("MADE-UP-{n:04}").as_bytes()).unwrap();
        // Half on a real route (405), half on paths nobody routes (404).
        let path = match n % 2 {
            0 => "/users".to_owned(),
            _ => format!("/no/such/path/{n}"),
        };
        let request = app.client.request(method, app.url(&path));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses: Vec<u16> = futures_util::stream::iter(requests)
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| [404, 405].contains(s)),
        "{statuses:?}"
    );
    let text = app.get_path("/metrics").await.text().await.unwrap();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    // A fixed ceiling (a handful of label sets, each a counter and a 17-line histogram), far
    // below one series per invented method or path.
    assert!(series < 500, "{series} series");
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    for line in [
        r#"authd_http_requests_total{method="other",route="/users",status="405"} 1500"#,
        r#"authd_http_requests_total{method="other",route="unmatched",status="404"} 1500"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains("MADE-UP") && !text.contains("/no/such/path"));
}

each_backend!(the_hashing_job_metric_is_not_called_bcrypt_time_as_some_jobs_run_no_bcrypt);
async fn the_hashing_job_metric_is_not_called_bcrypt_time_as_some_jobs_run_no_bcrypt(
    backend: Backend,
) {
    let config = {
        let mut config = test_config();
        config.max_failed_logins = 1;
        config
    };
    let app = backend
        .spawn_app_with(config, web::WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 400); // no bcrypt
    assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 429); // no bcrypt
    let text = app.get_path("/metrics").await.text().await.unwrap();
    // Four jobs ran on the hashing threads; the metric says jobs, not bcrypt work.
    let line = "authd_hashing_job_duration_seconds_count 4";
    assert!(text.contains(line), "{line} missing from\n{text}");
    assert!(!text.contains("authd_bcrypt"), "{text}");
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_and_only_there() {
    let app = spawn_app_with_metrics_listener().await;
    let metrics = app.metrics_address.clone().unwrap();
    app.post_users("bob@x.io", "pw").await;
    assert_error(app.get_path("/metrics").await, 404, "no such endpoint").await;
    let res = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        r#"authd_http_requests_total{method="POST",route="/users",status="200"} 1"#,
        // The public port's 404 for it (the route label is still a pattern: bounded).
        r#"authd_http_requests_total{method="GET",route="/metrics",status="404"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // The metrics listener serves nothing else.
    for path in ["/", "/healthz", "/openapi.json", "/users"] {
        let res = app
            .client
            .get(format!("{metrics}{path}"))
            .send()
            .await
            .unwrap();
        assert_error(res, 404, "no such endpoint").await;
    }
    let res = app
        .client
        .post(format!("{metrics}/sessions"))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "no such endpoint").await;
    // The public port still serves everything else.
    assert_eq!(app.get_path("/healthz").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}
