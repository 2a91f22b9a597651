#![doc = include_str!("../README.md")]

mod client_ip;
mod current_user;
mod error;
mod fields;
mod hashing;
mod ip_limit;
mod metrics;
mod openapi;
mod routes;
mod server;
mod state;
mod telemetry;

pub use client_ip::{InvalidProxyList, TrustedProxies};
pub use current_user::CurrentUser;
pub use error::ApiError;
pub use fields::{Fields, MAX_BODY_BYTES};
pub use routes::routes;
pub use server::serve;
pub use state::{Authd, WebOptions};
