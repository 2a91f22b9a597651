//! What an embedding app's own routes get from the library, in process: `require_same_origin`,
//! `PageUser`, `/metrics` only when asked for, and authd's request metric counting authd's
//! routes only. (`tests/embedder/tests/notes.rs` runs a whole host app through the same.)

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{web as aw, HttpResponse};
use auth::testing::TestDatabase;
use auth::Auth;
use serde_json::{json, Value};
use web::{Authd, CurrentUser, PageUser, WebOptions};

use crate::helpers::test_config;

fn authd(db: &TestDatabase, options: WebOptions) -> Authd {
    Authd::new(Auth::open(db.url(), test_config()).unwrap(), options)
}

async fn mine(_: CurrentUser) -> HttpResponse {
    HttpResponse::Created().finish()
}

async fn page(user: PageUser) -> HttpResponse {
    HttpResponse::Ok().body(user.email().to_owned())
}

async fn body_text(response: ServiceResponse<impl MessageBody>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn routes_serve_no_metrics_unless_asked_and_count_no_route_of_the_host() {
    let db = TestDatabase::sqlite();
    let authd = authd(&db, WebOptions::default());
    let app = test::init_service(
        web::app(&authd)
            .service(aw::scope("/auth").configure(web::routes))
            .route("/mine", aw::post().to(mine)),
    )
    .await;
    let metrics = TestRequest::get().uri("/auth/metrics").to_request();
    let response = test::call_service(&app, metrics).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body, json!({ "message": "no such endpoint" }));

    let app = test::init_service(
        web::app(&authd)
            .service(aw::scope("/auth").configure(web::routes_with_metrics))
            .route("/mine", aw::post().to(mine)),
    )
    .await;
    let mine = TestRequest::post().uri("/mine").to_request();
    assert_eq!(test::call_service(&app, mine).await.status(), 403);
    let health = TestRequest::get().uri("/auth/healthz").to_request();
    assert_eq!(test::call_service(&app, health).await.status(), 200);
    let metrics = TestRequest::get().uri("/auth/metrics").to_request();
    let response = test::call_service(&app, metrics).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = body_text(response).await;
    assert!(
        text.contains(
            r#"authd_http_requests_total{method="GET",route="/auth/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("/mine"), "{text}");
}

#[actix_web::test]
async fn require_same_origin_refuses_a_cross_site_post_to_the_hosts_route_with_authds_json() {
    let db = TestDatabase::sqlite();
    let authd = authd(&db, WebOptions::default());
    let app = test::init_service(
        web::app(&authd).service(
            aw::scope("/app")
                .wrap(web::require_same_origin())
                .route("/mine", aw::post().to(mine)),
        ),
    )
    .await;
    let post = |origin: &str| {
        TestRequest::post()
            .uri("/app/mine")
            .insert_header((header::HOST, "app.test"))
            .insert_header((header::ORIGIN, origin.to_owned()))
            .to_request()
    };
    let response = test::call_service(&app, post("https://evil.test")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body, json!({ "message": "cross-origin request refused" }));
    for origin in ["null", "https://evil.test"] {
        let refused = TestRequest::post()
            .uri("/app/mine")
            .insert_header((header::ORIGIN, origin))
            .insert_header(("sec-fetch-mode", "navigate"))
            .to_request();
        let response = test::call_service(&app, refused).await;
        // No pages mounted: a browser too gets the JSON.
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
        let content_type = response.headers().get(header::CONTENT_TYPE).unwrap();
        assert_eq!(content_type, "application/json", "{origin}");
    }
    // Its own origin passes on to the handler (403 there: no session).
    let response = test::call_service(&app, post("http://app.test")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body, json!({ "message": "no valid session: log in first" }));
    let get = TestRequest::get()
        .uri("/app/mine")
        .insert_header((header::ORIGIN, "https://evil.test"))
        .to_request();
    // Reading is let through, to the app's own answer (no GET route: actix's 404).
    assert_eq!(test::call_service(&app, get).await.status(), 404);
}

#[actix_web::test]
async fn page_user_sends_to_the_pages_where_they_are_mounted_and_is_500_without_them() {
    let db = TestDatabase::sqlite();
    let authd = authd(&db, WebOptions::default());
    let app = test::init_service(
        web::app(&authd)
            .service(aw::scope("/people/auth").configure(web::pages))
            .route("/p", aw::get().to(page)),
    )
    .await;
    let request = TestRequest::get().uri("/p?a=1&b=/x").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers().get(header::LOCATION).unwrap();
    assert_eq!(location, "/people/auth/login?next=/p%3Fa%3D1%26b%3D/x");
    let forged = TestRequest::get()
        .uri("/p")
        .insert_header((header::COOKIE, "session_id=forged"))
        .to_request();
    let response = test::call_service(&app, forged).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let alone = test::init_service(web::app(&authd).route("/p", aw::get().to(page))).await;
    let request = TestRequest::get().uri("/p").to_request();
    let response = test::call_service(&alone, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body, json!({ "message": "internal error" }));
}

#[test]
fn product_options_are_the_defaults_with_secure_cookies() {
    let product = WebOptions::product();
    let default = WebOptions::default();
    assert!(product.cookie_secure && !default.cookie_secure);
    assert_eq!(
        format!("{product:?}").replace("cookie_secure: true", "cookie_secure: false"),
        format!("{default:?}")
    );
}
