//! Browsers: pages of other sites cannot log a visitor in (login CSRF) or change anything;
//! pages of the listed origins may call authd with the session cookie (CORS).

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
    assert_eq!(row.session_id, None);
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
