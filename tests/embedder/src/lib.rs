//! A service of its own that embeds authd: authd's endpoints under `/account`, its own
//! `GET /app/me` behind `CurrentUser`, and `POST /admin/users`, which creates accounts through
//! authd's async face (the hashing threads, their back-pressure and metrics).

use actix_web::http::header;
use actix_web::web::{self, Data, Json, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use authd_web::{ApiError, Authd, CurrentUser};
use serde::Deserialize;

/// The secret an admin sends in `x-admin-token`; registered as app data.
#[derive(Clone)]
pub struct AdminToken(pub String);

/// The service's routes. The `App` must come from `authd_web::app(&authd)` (or have
/// `authd.data()` registered) and carry `Data<AdminToken>`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(web::scope("/account").configure(authd_web::routes))
        .route("/app/me", web::get().to(me))
        .route("/admin/users", web::post().to(create_user));
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
