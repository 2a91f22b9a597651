//! Serves the example app on 127.0.0.1:8080, its users in `./embedded.db`.

use actix_web::HttpServer;
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let auth = Auth::open("embedded.db", AuthConfig::default()).map_err(std::io::Error::other)?;
    let authd = Authd::new(auth, WebOptions::default());
    let grace = authd.options().shutdown_grace;
    // `authd_web::app`: the state, request ids, request log lines, HTTP metrics and CORS that
    // `authd_web::serve` has, around the app's own routes too.
    HttpServer::new(move || authd_web::app(&authd).configure(embedded::configure))
        .shutdown_timeout(grace.as_secs())
        .bind("127.0.0.1:8080")?
        .run()
        .await
}
