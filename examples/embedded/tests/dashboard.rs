//! The example app in process: authd's routes under `/auth` give the session that the app's
//! own `/dashboard` requires.
#![allow(clippy::unwrap_used, missing_docs)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use authd::testing::TestDatabase;
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};
use serde_json::{json, Value};

const FORM: &str = "email=bob%40example.com&password=hunter2";

/// The app as `main` builds it, over a fresh SQLite file (kept alive by the returned guard).
async fn app() -> (
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    TestDatabase,
) {
    let db = TestDatabase::sqlite();
    let config = {
        let mut config = AuthConfig::default();
        config.bcrypt_cost = 4;
        config
    };
    let authd = Authd::new(Auth::open(db.url(), config).unwrap(), WebOptions::default());
    let app = authd_web::app(&authd).configure(embedded::configure);
    (test::init_service(app).await, db)
}

fn post_form(uri: &str) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(FORM)
}

fn get_dashboard(session: Option<&str>) -> actix_http::Request {
    let request = TestRequest::get().uri("/dashboard");
    match session {
        Some(id) => request.insert_header((header::COOKIE, format!("session_id={id}"))),
        None => request,
    }
    .to_request()
}

async fn json_of(response: ServiceResponse<impl MessageBody>) -> Value {
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    assert_eq!(content_type.unwrap(), "application/json");
    serde_json::from_slice(&test::read_body(response).await).unwrap()
}

#[actix_web::test]
async fn the_dashboard_answers_403_json_without_a_session() {
    let (app, _db) = app().await;
    let response = test::call_service(&app, get_dashboard(None)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = json_of(response).await;
    assert_eq!(body, json!({ "message": "no valid session: log in first" }));
    let response = test::call_service(&app, get_dashboard(Some("forged"))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_session_from_auth_opens_the_dashboard_until_logout() {
    let (app, _db) = app().await;
    let response = test::call_service(&app, post_form("/auth/users").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = test::call_service(&app, post_form("/auth/sessions").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .response()
        .cookies()
        .find(|c| c.name() == "session_id")
        .unwrap();
    assert_eq!(
        cookie.path(),
        Some("/"),
        "the app's own routes must receive it"
    );
    let session = cookie.value().to_owned();

    let response = test::call_service(&app, get_dashboard(Some(&session))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response).await;
    assert_eq!(
        body,
        json!({ "email": "bob@example.com", "message": "welcome to your dashboard" })
    );

    let logout = TestRequest::delete()
        .uri("/auth/sessions")
        .insert_header((header::COOKIE, format!("session_id={session}")))
        .to_request();
    let response = test::call_service(&app, logout).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers().get(header::LOCATION).unwrap(), "/");
    let response = test::call_service(&app, get_dashboard(Some(&session))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn authd_lives_under_auth_and_its_document_says_so() {
    let (app, _db) = app().await;
    let welcome = TestRequest::get().uri("/auth/").to_request();
    let body = json_of(test::call_service(&app, welcome).await).await;
    assert_eq!(body, json!({ "message": "Bienvenue" }));
    let document = TestRequest::get().uri("/auth/openapi.json").to_request();
    let document = json_of(test::call_service(&app, document).await).await;
    assert_eq!(document["servers"], json!([{ "url": "/auth" }]));
    assert!(document["paths"]["/users"]["post"].is_object());
    let outside = TestRequest::post().uri("/users").to_request();
    let response = test::call_service(&app, outside).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_apps_own_routes_get_request_ids_but_not_authds_metrics() {
    let (app, _db) = app().await;
    let response = test::call_service(&app, get_dashboard(None)).await;
    let id = response.headers().get("x-request-id").cloned();
    assert_eq!(id.unwrap().len(), 36, "a UUID request id");
    let welcome = TestRequest::get().uri("/auth/").to_request();
    assert_eq!(test::call_service(&app, welcome).await.status(), 200);
    let metrics = TestRequest::get().uri("/auth/metrics").to_request();
    let response = test::call_service(&app, metrics).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    // authd counts its own routes only: the app's are the app's to name.
    assert!(
        text.contains(r#"authd_http_requests_total{method="GET",route="/auth/",status="200"} 1"#),
        "{text}"
    );
    assert!(!text.contains("/dashboard"), "{text}");
}

#[actix_web::test]
async fn the_pages_live_under_auth_and_link_there() {
    let (app, _db) = app().await;
    let login = TestRequest::get().uri("/auth/login").to_request();
    let response = test::call_service(&app, login).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/auth/login">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/auth/static/authd.css?v="#),
        "{html}"
    );
    assert!(html.contains(r#"href="/auth/signup""#), "{html}");
    let account = TestRequest::get().uri("/auth/account").to_request();
    let response = test::call_service(&app, account).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers().get(header::LOCATION).unwrap(),
        "/auth/login?next=/auth/account&m=sign-in"
    );
    let css = TestRequest::get()
        .uri("/auth/static/authd.css")
        .to_request();
    assert_eq!(test::call_service(&app, css).await.status(), StatusCode::OK);
}
