//! The admin API on its own listener: who may use it (`access`), its account routes
//! (`users`), paging through many accounts while they change (`paging`), the disabled-account
//! rules over HTTP and across instances (`disabled`), and the audit log it records and reads
//! (`audit`).

mod access;
mod audit;
mod disabled;
mod paging;
mod users;

use std::net::TcpListener;

use auth::{Auth, AuthConfig, DbOptions};
use reqwest::{Method, Response};
use serde_json::Value;
use web::{AdminAccess, Authd, WebOptions};

use crate::helpers::*;

/// The admin token of every test server.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// Two instances on one fresh database: `base` (public listener only, as the tests' other
/// servers) and a second one serving both its public listener and the admin API, from one
/// `Authd` (one set of metrics).
pub struct AdminApp {
    pub base: TestApp,
    /// `http://127.0.0.1:port` of the second instance's public listener.
    pub public: String,
    /// `http://127.0.0.1:port` of its admin listener.
    pub admin: String,
    /// The second instance's auth handle.
    pub auth: Auth,
}

/// An [`AdminApp`] with the test config.
pub async fn spawn_admin(backend: Backend) -> AdminApp {
    spawn_admin_with(backend, test_config, WebOptions::default()).await
}

/// An [`AdminApp`] whose instances each get `config()` and `options`.
pub async fn spawn_admin_with(
    backend: Backend,
    config: impl Fn() -> AuthConfig,
    options: WebOptions,
) -> AdminApp {
    let base = backend.spawn_app_with(config(), options.clone()).await;
    let mut second = config();
    second.clock = base.clock.clone();
    let auth = Auth::connect(&DbOptions::new(base.database().url()), second).unwrap();
    let authd = Authd::new(auth.clone(), options);
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").unwrap();
    let (public_address, admin_address) = (
        format!("http://{}", public.local_addr().unwrap()),
        format!("http://{}", admin.local_addr().unwrap()),
    );
    let access = AdminAccess::new(TOKEN).unwrap();
    tokio::spawn(web::serve_admin(admin, authd.clone(), access).unwrap());
    tokio::spawn(web::serve_with_metrics(public, None, authd).unwrap());
    AdminApp {
        base,
        public: public_address,
        admin: admin_address,
        auth,
    }
}

impl AdminApp {
    /// `method path` on the admin listener with the admin token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.base
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    /// `method path` with `body` as JSON.
    pub async fn send(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path).json(body).send().await.unwrap()
    }

    /// Makes an account through the API (password `pw`, confirmed); its `U`.
    pub async fn create(&self, email: &str) -> Value {
        let body = serde_json::json!({"email": email, "password": "pw", "verified": true});
        json_body(self.send(Method::POST, "/admin/users", &body).await, 201).await
    }

    /// `GET /metrics` of the second instance (which serves the admin API).
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.public);
        let res = self.base.client.get(url).send().await.unwrap();
        text_of(res, 200).await
    }

    /// The id of the account of `email`.
    pub fn id_of(&self, email: &str) -> i32 {
        self.auth.find_user_by_email(email).unwrap().unwrap().id
    }
}

/// The `events` of an audit page.
pub fn events(page: &Value) -> &Vec<Value> {
    page["events"].as_array().unwrap()
}
