//! The embedding service end to end, in process, on SQLite and (with `TEST_DATABASE_URL`)
//! PostgreSQL: an admin creates a user through authd's async face, the user logs in through
//! authd's routes under `/account`, and the service's own route sees them.

use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use authd::testing::TestDatabase;
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};
use embedder::AdminToken;
use serde_json::{json, Value};

const ADMIN: &str = "let-me-in";

#[actix_web::test]
async fn an_admin_creates_a_user_who_logs_in_under_account_and_reaches_the_app() {
    for db in TestDatabase::all() {
        let backend = format!("{:?}", db.backend());
        let auth = Auth::open(db.url(), AuthConfig::default().with_bcrypt_cost(4)).unwrap();
        let authd = Authd::new(auth, WebOptions::default());
        let app = test::init_service(
            authd_web::app(&authd)
                .app_data(Data::new(AdminToken(ADMIN.into())))
                .configure(embedder::configure),
        )
        .await;

        // The app's own route is guarded.
        let me = TestRequest::get().uri("/app/me").to_request();
        let response = test::call_service(&app, me).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{backend}");

        // Only an admin creates users.
        let new_user = json!({ "email": "Ann@Example.com", "password": "s3cret" });
        let anonymous = TestRequest::post()
            .uri("/admin/users")
            .set_json(&new_user)
            .to_request();
        let response = test::call_service(&app, anonymous).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{backend}");
        let create = || {
            TestRequest::post()
                .uri("/admin/users")
                .insert_header(("x-admin-token", ADMIN))
                .set_json(&new_user)
                .to_request()
        };
        let response = test::call_service(&app, create()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{backend}");
        let created: Value = test::read_body_json(response).await;
        assert_eq!(created["email"], "ann@example.com", "{backend}");
        // authd's errors are `ResponseError`s: a duplicate is its 400 JSON.
        let response = test::call_service(&app, create()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{backend}");
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body, json!({ "message": "email already registered" }));

        // Log in through authd's routes under /account.
        let login = TestRequest::post()
            .uri("/account/sessions")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("email=ann%40example.com&password=s3cret")
            .to_request();
        let response = test::call_service(&app, login).await;
        assert_eq!(response.status(), StatusCode::OK, "{backend}");
        assert!(response.headers().contains_key("x-request-id"));
        let cookie = response
            .response()
            .cookies()
            .find(|c| c.name() == "session_id")
            .unwrap();
        assert_eq!(cookie.path(), Some("/"), "the app's own routes receive it");
        let session = cookie.value().to_owned();

        let me = TestRequest::get()
            .uri("/app/me")
            .insert_header((header::COOKIE, format!("session_id={session}")))
            .to_request();
        let response = test::call_service(&app, me).await;
        assert_eq!(response.status(), StatusCode::OK, "{backend}");
        let body: Value = test::read_body_json(response).await;
        assert_eq!(
            body,
            json!({ "id": created["id"], "email": "ann@example.com" })
        );

        // The admin's registration went through the hashing threads: it is in their metric.
        let metrics = TestRequest::get().uri("/account/metrics").to_request();
        let text = test::read_body(test::call_service(&app, metrics).await).await;
        let text = String::from_utf8(text.to_vec()).unwrap();
        assert!(
            text.contains("authd_hashing_job_duration_seconds_count 3"),
            "two registrations and a login: {text}"
        );
    }
}
