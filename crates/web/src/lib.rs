#![doc = include_str!("../README.md")]

mod client_ip;
mod current_user;
mod error;
mod fields;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hashing;
mod ip_limit;
mod metrics;
mod openapi;
mod origins;
mod pages;
mod routes;
mod server;
mod state;
mod telemetry;

pub use client_ip::{InvalidProxyList, TrustedProxies};
pub use current_user::CurrentUser;
pub use error::ApiError;
pub use fields::{Fields, MAX_BODY_BYTES};
pub use origins::{cors, parse_origin, InvalidOrigin};
pub use pages::pages;
pub use routes::{metrics_routes, routes, routes_without_metrics};
pub use server::{app, serve, serve_with_metrics};
pub use state::{Authd, InvalidCookieSetting, NotLoggedIn, WebOptions};
