//! A service of its own that embeds authd: authd's endpoints under `/account` (with
//! `/account/metrics`, asked for), its own `GET /app/me` behind `CurrentUser`, and
//! `POST /admin/users`, which creates accounts through authd's async face (the hashing
//! threads, their back-pressure and metrics).
//!
//! And `notes`, the "notes-api" of issue 27: authd's API and pages under `/auth`, and its own
//! `/notes` behind `require_same_origin()`: `POST /notes` (JSON, `CurrentUser`) and
//! `GET /notes/page` (HTML, `PageUser`).

use actix_web::http::header;
use actix_web::web::{self, Data, Json, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use authd_web::{ApiError, Authd, CurrentUser, PageUser};
use serde::Deserialize;

/// The secret an admin sends in `x-admin-token`; registered as app data.
#[derive(Clone)]
pub struct AdminToken(pub String);

/// The service's routes. The `App` must come from `authd_web::app(&authd)` (or have
/// `authd.data()` registered) and carry `Data<AdminToken>`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(web::scope("/account").configure(authd_web::routes_with_metrics))
        .route("/app/me", web::get().to(me))
        .route("/admin/users", web::post().to(create_user));
}

/// The notes service: authd's API and pages under `/auth` (`/auth/metrics` only when
/// `metrics`), and its own `/notes`, refused to other sites.
pub fn notes(metrics: bool) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        let api = if metrics {
            authd_web::routes_with_metrics
        } else {
            authd_web::routes
        };
        cfg.service(
            web::scope("/auth")
                .configure(api)
                .configure(authd_web::pages),
        )
        .service(
            web::scope("/notes")
                .wrap(authd_web::require_same_origin())
                .route("", web::post().to(add_note))
                .route("/page", web::get().to(notes_page)),
        );
    }
}

/// A note's text.
#[derive(Deserialize)]
struct Note {
    text: String,
}

/// `POST /notes`: 201 with the note, for a signed-in user.
async fn add_note(user: CurrentUser, note: Json<Note>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({ "by": user.email(), "text": note.text }))
}

/// `GET /notes/page`: the notes as a page; without a session, off to `/auth/login`.
async fn notes_page(user: PageUser) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!("<h1>Notes of user {}</h1>", user.id()))
}

/// Only for a logged-in user: `CurrentUser` answers 403 JSON otherwise.
async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "id": user.id(), "email": user.email() }))
}

/// A new account, from an admin.
#[derive(Deserialize)]
struct NewUser {
    email: String,
    password: String,
}

async fn create_user(
    authd: Data<Authd>,
    admin: Data<AdminToken>,
    request: HttpRequest,
    body: Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let token = request.headers().get("x-admin-token");
    if token.and_then(|t| t.to_str().ok()) != Some(admin.0.as_str()) {
        return Ok(HttpResponse::Forbidden().json(serde_json::json!({ "message": "admins only" })));
    }
    let NewUser { email, password } = body.into_inner();
    // Not `web::block`: authd's hashing threads, in this client's turn, 503/429 when full.
    let client = authd.client_ip(&request);
    let user = authd.register(client, email, password).await?;
    // A lookup through the async face: database work on the blocking pool.
    let id = user.id;
    let found = authd
        .run_lookup(move |auth| auth.find_user_by_id(id))
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/users/{}", found.id)))
        .json(serde_json::json!({ "id": found.id, "email": found.email })))
}
