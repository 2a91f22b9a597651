#![doc = include_str!("../README.md")]

mod admin;
mod api;
mod branding;
mod client_ip;
mod connections;
mod current_user;
mod error;
mod fields;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hashing;
mod ip_limit;
mod metrics;
mod middleware;
mod openapi;
mod options;
mod pages;
mod qr;
mod same_origin;
mod server;
mod site;
mod state;

pub use admin::{admin_app, admin_routes, serve_admin, AdminAccess, InvalidAdminToken};
pub use admin::{ADMIN_FAILURES_PER_MINUTE, MIN_ADMIN_TOKEN_CHARS};
pub use api::{metrics_routes, routes, routes_with_metrics, routes_without_metrics};
pub use branding::MAX_SITE_NAME_CHARS;
pub use branding::{Branding, InvalidBranding, MAX_CUSTOM_CSS_BYTES, MAX_LOGO_BYTES};
pub use client_ip::{InvalidProxyList, TrustedProxies};
pub use current_user::CurrentUser;
pub use error::{ApiError, MAX_BODY_BYTES};
pub use fields::Fields;
pub use middleware::client_faults::DemoteClientFaults;
pub use middleware::origins::{cors, parse_origin, InvalidOrigin};
pub use options::{InvalidCookieSetting, NotLoggedIn, WebOptions};
pub use pages::{pages, PageUser};
pub use qr::totp_qr_svg;
pub use same_origin::{require_same_origin, RequireSameOrigin, SameOriginService};
pub use server::{app, serve, serve_with_metrics};
pub use site::{parse_forward_auth_rule, ForwardAuthRule, InvalidSite, Site};
pub use state::Authd;
