//! Serves the example app on 127.0.0.1:8080, its users in `./embedded.db`.

use actix_web::{App, HttpServer};
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let auth = Auth::open("embedded.db", AuthConfig::default()).map_err(std::io::Error::other)?;
    let authd = Authd::new(auth, WebOptions::default());
    HttpServer::new(move || {
        App::new()
            .app_data(authd.data())
            .configure(embedded::configure)
    })
    .bind("127.0.0.1:8080")?
    .run()
    .await
}
