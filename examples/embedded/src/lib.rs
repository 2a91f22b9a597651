#![doc = include_str!("../README.md")]

use actix_web::web::{self as aw, ServiceConfig};
use actix_web::HttpResponse;
use authd_web::CurrentUser;

/// The app's routes: authd's API (with `/auth/metrics`, asked for) and pages under `/auth`,
/// and `/dashboard`. The `App` must
/// have [`authd_web::Authd::data`] registered, for `web::routes`, `web::pages` and
/// `CurrentUser` alike.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        aw::scope("/auth")
            .configure(authd_web::routes_with_metrics)
            .configure(authd_web::pages),
    )
    .route("/dashboard", aw::get().to(dashboard));
}

/// Only for logged-in users: `CurrentUser` answers 403 JSON before this runs otherwise.
async fn dashboard(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "email": user.email(),
        "message": "welcome to your dashboard",
    }))
}
