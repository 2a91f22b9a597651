//! The notes service of issue 27, in process, as a host app would test it: its own `/notes`
//! gets authd's cross-site refusal (`require_same_origin`) and sign-in redirect (`PageUser`),
//! authd's pages under `/auth` carry `next` through sign-up, sign-out goes where the host
//! says, and authd's metrics are neither served nor counting the host's routes unless asked.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use authd::testing::TestDatabase;
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};
use serde_json::{json, Value};

const HOST: &str = "notes.test";
const FORM: &str = "application/x-www-form-urlencoded";

/// The notes app over `db` with `options`; `metrics` asks for `/auth/metrics`. (A macro: the
/// service's request type is actix-http's, which this crate does not name.)
macro_rules! notes_app {
    ($db:expr, $options:expr, $metrics:expr) => {{
        let config = AuthConfig::default().with_bcrypt_cost(4);
        let authd = Authd::new(Auth::open($db.url(), config).unwrap(), $options);
        test::init_service(authd_web::app(&authd).configure(embedder::notes($metrics))).await
    }};
}

/// A user signed up through the API and signed in: the session cookie's value.
macro_rules! session_for {
    ($app:expr, $email:expr) => {{
        let body = format!("email={}&password=s3cret-pw", $email);
        let mut session = None;
        for path in ["/auth/users", "/auth/sessions"] {
            let request = TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, FORM))
                .set_payload(body.clone())
                .to_request();
            let response = test::call_service($app, request).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            session = cookie_of(&response, "session_id");
        }
        session.unwrap()
    }};
}

/// The value of the cookie `name` that `response` sets.
fn cookie_of(response: &ServiceResponse<impl MessageBody>, name: &str) -> Option<String> {
    let found = response.response().cookies().find(|c| c.name() == name);
    found.map(|c| c.value().to_owned())
}

fn location(response: &ServiceResponse<impl MessageBody>) -> String {
    let location = response.headers().get(header::LOCATION);
    location.unwrap().to_str().unwrap().to_owned()
}

async fn text(response: ServiceResponse<impl MessageBody>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

/// The hidden field `name`'s value in a page's form.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

fn post_note(session: &str, origin: Option<&str>) -> TestRequest {
    let request = TestRequest::post()
        .uri("/notes")
        .insert_header((header::HOST, HOST))
        .insert_header((header::COOKIE, format!("session_id={session}")))
        .set_json(json!({ "text": "buy milk" }));
    match origin {
        Some(origin) => request.insert_header((header::ORIGIN, origin)),
        None => request,
    }
}

#[actix_web::test]
async fn a_cross_site_post_to_the_hosts_route_is_refused_as_authd_refuses_its_own() {
    for db in TestDatabase::all() {
        let backend = format!("{:?}", db.backend());
        let app = notes_app!(db, WebOptions::default(), false);
        let session = session_for!(&app, "ann%40example.com");

        let cross_site = post_note(&session, Some("https://evil.example"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_request();
        let response = test::call_service(&app, cross_site).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{backend}");
        let refused: Value = test::read_body_json(response).await;
        // authd's own answer to the same post:
        let authds = TestRequest::post()
            .uri("/auth/sessions")
            .insert_header((header::HOST, HOST))
            .insert_header((header::ORIGIN, "https://evil.example"))
            .insert_header((header::CONTENT_TYPE, FORM))
            .set_payload("email=ann%40example.com&password=s3cret-pw")
            .to_request();
        let response = test::call_service(&app, authds).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{backend}");
        let authds: Value = test::read_body_json(response).await;
        assert_eq!(refused, authds, "{backend}");
        assert_eq!(
            refused,
            json!({ "message": "cross-origin request refused" })
        );

        // Same origin, or no Origin at all (a program): the note is added.
        let same = post_note(&session, Some(&format!("https://{HOST}")))
            .insert_header(("sec-fetch-site", "same-origin"))
            .to_request();
        let response = test::call_service(&app, same).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{backend}");
        let note: Value = test::read_body_json(response).await;
        assert_eq!(note, json!({ "by": "ann@example.com", "text": "buy milk" }));
        let program = post_note(&session, None).to_request();
        let response = test::call_service(&app, program).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{backend}");
        // Reading stays open to any origin; the handler's own guard still answers.
        let no_session = TestRequest::post()
            .uri("/notes")
            .set_json(json!({ "text": "x" }))
            .to_request();
        let response = test::call_service(&app, no_session).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{backend}");
    }
}

#[actix_web::test]
async fn a_cross_site_form_a_browser_sends_gets_the_pages_refusal_page() {
    let db = TestDatabase::sqlite();
    let app = notes_app!(db, WebOptions::default(), false);
    let form = TestRequest::post()
        .uri("/notes")
        .insert_header((header::HOST, HOST))
        .insert_header((header::ORIGIN, "https://evil.example"))
        .insert_header(("sec-fetch-mode", "navigate"))
        .insert_header((header::CONTENT_TYPE, FORM))
        .set_payload("text=x")
        .to_request();
    let response = test::call_service(&app, form).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let content_type = response.headers().get(header::CONTENT_TYPE).unwrap();
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(
        response.headers().get(header::X_FRAME_OPTIONS).unwrap(),
        "DENY"
    );
    let html = text(response).await;
    assert!(
        html.contains("This form was sent from another site"),
        "{html}"
    );
    assert!(html.contains(r#"href="/auth/account""#), "{html}");
    assert!(
        html.contains(r#"href="/auth/static/authd.css?v="#),
        "{html}"
    );
}

#[actix_web::test]
async fn the_hosts_page_sends_a_visitor_to_the_mounted_sign_in_and_sign_up_brings_them_back() {
    for db in TestDatabase::all() {
        let backend = format!("{:?}", db.backend());
        let app = notes_app!(db, WebOptions::default(), false);
        let page = TestRequest::get().uri("/notes/page").to_request();
        let response = test::call_service(&app, page).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(location(&response), "/auth/login?next=/notes/page");
        let with_query = TestRequest::get().uri("/notes/page?tag=a%20b").to_request();
        let response = test::call_service(&app, with_query).await;
        assert_eq!(
            location(&response),
            "/auth/login?next=/notes/page%3Ftag%3Da%2520b"
        );

        // The sign-in page links to sign-up with `next`; sign-up carries it to the end.
        let login = TestRequest::get()
            .uri("/auth/login?next=/notes/page")
            .to_request();
        let html = text(test::call_service(&app, login).await).await;
        assert!(
            html.contains(r#"href="/auth/signup?next=/notes/page""#),
            "{html}"
        );
        let signup = TestRequest::get()
            .uri("/auth/signup?next=/notes/page")
            .to_request();
        let response = test::call_service(&app, signup).await;
        assert_eq!(response.status(), StatusCode::OK, "{backend}");
        let visitor = cookie_of(&response, "authd_visitor").unwrap();
        let html = text(response).await;
        assert_eq!(hidden(&html, "next").as_deref(), Some("/notes/page"));
        assert!(
            html.contains(r#"href="/auth/login?next=/notes/page""#),
            "{html}"
        );
        let csrf = hidden(&html, "csrf_token").unwrap();
        let form = format!(
            "email=bo%40example.com&password=s3cret-pw&password_again=s3cret-pw\
             &next=%2Fnotes%2Fpage&csrf_token={csrf}"
        );
        let sign_up = TestRequest::post()
            .uri("/auth/signup")
            .insert_header((header::COOKIE, format!("authd_visitor={visitor}")))
            .insert_header((header::CONTENT_TYPE, FORM))
            .set_payload(form)
            .to_request();
        let response = test::call_service(&app, sign_up).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(location(&response), "/notes/page");
        let session = cookie_of(&response, "session_id").unwrap();

        let page = TestRequest::get()
            .uri("/notes/page")
            .insert_header((header::COOKIE, format!("session_id={session}")))
            .to_request();
        let response = test::call_service(&app, page).await;
        assert_eq!(response.status(), StatusCode::OK, "{backend}");
        assert!(text(response).await.starts_with("<h1>Notes of user "));
    }
}

#[actix_web::test]
async fn sign_up_refuses_a_next_that_leaves_the_site() {
    let db = TestDatabase::sqlite();
    let app = notes_app!(db, WebOptions::default(), false);
    let signup = TestRequest::get()
        .uri("/auth/signup?next=//evil.example/")
        .to_request();
    let html = text(test::call_service(&app, signup).await).await;
    assert_eq!(hidden(&html, "next"), None);
    assert!(!html.contains("evil"), "{html}");
}

#[actix_web::test]
async fn signing_out_goes_where_the_host_says() {
    let db = TestDatabase::sqlite();
    let mut options = WebOptions::default();
    options.sign_out_to = Some("/goodbye".to_owned());
    let app = notes_app!(db, options, false);

    // The API's sign-out.
    let session = session_for!(&app, "cy%40example.com");
    let logout = TestRequest::delete()
        .uri("/auth/sessions")
        .insert_header((header::COOKIE, format!("session_id={session}")))
        .to_request();
    let response = test::call_service(&app, logout).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/goodbye");

    // The pages' sign-out.
    let session = session_for!(&app, "di%40example.com");
    let cookies = format!("session_id={session}");
    let account = TestRequest::get()
        .uri("/auth/account")
        .insert_header((header::COOKIE, cookies.clone()))
        .to_request();
    let response = test::call_service(&app, account).await;
    assert_eq!(response.status(), StatusCode::OK);
    let visitor = cookie_of(&response, "authd_visitor").unwrap();
    let html = text(response).await;
    let csrf = hidden(&html, "csrf_token").unwrap();
    let logout = TestRequest::post()
        .uri("/auth/logout")
        .insert_header((
            header::COOKIE,
            format!("{cookies}; authd_visitor={visitor}"),
        ))
        .insert_header((header::CONTENT_TYPE, FORM))
        .set_payload(format!("csrf_token={csrf}"))
        .to_request();
    let response = test::call_service(&app, logout).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/goodbye");
    assert_eq!(cookie_of(&response, "session_id").as_deref(), Some(""));
}

#[actix_web::test]
async fn authds_metrics_are_served_only_when_asked_for_and_never_count_the_hosts_routes() {
    let db = TestDatabase::sqlite();
    let app = notes_app!(db, WebOptions::default(), false);
    let metrics = TestRequest::get().uri("/auth/metrics").to_request();
    let response = test::call_service(&app, metrics).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let document = TestRequest::get().uri("/auth/openapi.json").to_request();
    let document: Value = test::read_body_json(test::call_service(&app, document).await).await;
    assert!(document["paths"]["/users"].is_object());
    assert!(document["paths"]["/metrics"].is_null());

    let db = TestDatabase::sqlite();
    let app = notes_app!(db, WebOptions::default(), true);
    let session = session_for!(&app, "ed%40example.com");
    let note = post_note(&session, None).to_request();
    assert_eq!(
        test::call_service(&app, note).await.status(),
        StatusCode::CREATED
    );
    let page = TestRequest::get().uri("/notes/page").to_request();
    let response = test::call_service(&app, page).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let metrics = TestRequest::get().uri("/auth/metrics").to_request();
    let response = test::call_service(&app, metrics).await;
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = text(response).await;
    assert!(
        metrics.contains(
            r#"authd_http_requests_total{method="POST",route="/auth/sessions",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("/notes"), "{metrics}");
}
