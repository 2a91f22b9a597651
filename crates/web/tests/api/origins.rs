//! Browsers and the JSON API: pages of other sites cannot log a visitor in (login CSRF) or
//! change anything (by `Origin` or `Sec-Fetch-Site`); pages of the listed origins may call
//! authd with the session cookie (CORS); an origin is this host by host, not scheme.

use serde_json::json;
use web::WebOptions;

use crate::helpers::*;

const EVIL: &str = "https://evil.example";
const APP: &str = "https://app.example";

async fn spawn_allowing(backend: Backend, origins: &[&str]) -> TestApp {
    let options = {
        let mut options = WebOptions::default();
        options.allowed_origins = origins.iter().map(|o| o.to_string()).collect();
        options
    };
    backend.spawn_app_with(test_config(), options).await
}

async fn post_from(
    app: &TestApp,
    origin: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("origin", origin)
        .form(form)
        .send()
        .await
        .unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

each_backend!(a_cross_site_login_form_is_refused_and_creates_no_session);
async fn a_cross_site_login_form_is_refused_and_creates_no_session(backend: Backend) {
    let app = spawn_allowing(backend, &[APP]).await;
    app.post_users("bob@x.io", "pw").await;
    let credentials = [("email", "bob@x.io"), ("password", "pw")];
    for origin in [
        EVIL,
        "null",
        "http://app.example",
        "https://app.example.evil.example",
    ] {
        let res = post_from(&app, origin, "/sessions", &credentials).await;
        assert_eq!(set_cookie(&res), None, "{origin}");
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        assert_error(res, 403, "cross-origin request refused").await;
    }
    let row = app.auth.find_user_by_email("bob@x.io").unwrap().unwrap();
    assert_eq!(row.session_digest(), None);
}

#[tokio::test]
async fn other_state_changes_from_other_sites_are_refused_too() {
    let app = spawn_app().await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let res = post_from(
        &app,
        EVIL,
        "/users",
        &[("email", "eve@x.io"), ("password", "pw")],
    )
    .await;
    assert_error(res, 403, "cross-origin request refused").await;
    assert!(app.auth.find_user_by_email("eve@x.io").unwrap().is_none());
    let res = post_from(&app, EVIL, "/reset_password", &[("email", "bob@x.io")]).await;
    assert_error(res, 403, "cross-origin request refused").await;
    let res = app
        .client
        .delete(app.url("/sessions"))
        .header("origin", EVIL)
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "cross-origin request refused").await;
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    // A cross-site GET runs (it changes nothing), but without CORS headers its page cannot
    // read the answer.
    let res = app
        .client
        .get(app.url("/profile"))
        .header("origin", EVIL)
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}

each_backend!(a_listed_origin_logs_in_with_credentials_allowed);
async fn a_listed_origin_logs_in_with_credentials_allowed(backend: Backend) {
    let app = spawn_allowing(backend, &[APP, "http://localhost:3000"]).await;
    app.post_users("bob@x.io", "pw").await;
    let res = post_from(
        &app,
        APP,
        "/sessions",
        &[("email", "bob@x.io"), ("password", "pw")],
    )
    .await;
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(session_cookie(&res).is_some());
    let body = json_body(res, 200).await;
    assert_eq!(body, json!({ "email": "bob@x.io", "message": "logged in" }));
}

#[tokio::test]
async fn requests_without_origin_or_from_authd_itself_work_as_before() {
    let app = spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    let res = app.post_sessions("bob@x.io", "pw").await; // no Origin: curl, servers
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    let own = app.address.clone(); // http://127.0.0.1:port, as a page served by authd sends
    let res = post_from(
        &app,
        &own,
        "/sessions",
        &[("email", "bob@x.io"), ("password", "pw")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(session_cookie(&res).is_some());
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_preflight_is_granted_to_listed_origins_only() {
    let app = spawn_allowing(Backend::Sqlite, &[APP]).await;
    let preflight = |origin: &'static str, method: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight(APP, "POST").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    let methods = header(&res, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let res = preflight(EVIL, "POST").await.unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    assert_error(res, 403, "cross-origin request refused").await;
    let res = preflight(APP, "PATCH").await.unwrap();
    assert_error(res, 403, "cross-origin request refused").await;
}

#[tokio::test]
async fn the_json_api_refuses_a_cross_site_post_by_sec_fetch_site_too() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(response, 403, "cross-origin request refused").await;
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_none());
    // Same-site and same-origin requests are not refused.
    for site in ["same-origin", "same-site", "none"] {
        let response = app
            .client
            .post(app.url("/users"))
            .header("sec-fetch-site", site)
            .form(&[
                ("email", format!("{site}@example.com")),
                ("password", "pw".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{site}");
    }
}

#[tokio::test]
async fn a_listed_origin_keeps_its_cross_site_access_to_the_api() {
    let mut options = WebOptions::default();
    options.allowed_origins = vec!["https://app.example".into()];
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("origin", "https://app.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_origin_is_this_host_whatever_its_scheme_and_by_x_forwarded_host() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let post = |origin: String, forwarded: Option<&'static str>, n: usize| {
        let mut request = app
            .client
            .post(app.url("/users"))
            .header("origin", origin)
            .form(&[
                ("email", format!("o{n}@example.com")),
                ("password", "pw".into()),
            ]);
        if let Some(host) = forwarded {
            request = request.header("x-forwarded-host", host);
        }
        request.send()
    };
    let cases = [
        // The scheme is ignored: behind a TLS-terminating proxy authd sees http.
        (format!("https://127.0.0.1:{port}"), None, 200),
        (format!("http://127.0.0.1:{port}"), None, 200),
        (format!("http://localhost:{port}"), None, 403),
        ("http://127.0.0.1:1".to_owned(), None, 403),
        // The host a proxy says it forwarded for.
        ("https://auth.example".to_owned(), Some("auth.example"), 200),
        ("https://auth.example".to_owned(), None, 403),
        ("https://evil.example".to_owned(), Some("auth.example"), 403),
    ];
    for (n, (origin, forwarded, status)) in cases.into_iter().enumerate() {
        let response = post(origin.clone(), forwarded, n).await.unwrap();
        assert_eq!(response.status(), status, "{origin} {forwarded:?}");
    }
}

#[tokio::test]
async fn a_listed_origins_preflight_is_cached_for_ten_minutes() {
    let mut options = WebOptions::default();
    options.allowed_origins = vec!["https://app.example".into()];
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/sessions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
}
