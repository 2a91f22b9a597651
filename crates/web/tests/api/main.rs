//! HTTP tests: the real server on 127.0.0.1:0 over a fresh database, driven by a real client.
//! By resource as the API is split (`admin` on its own listener, `host` (an embedding app's own
//! routes, in process), `users`, `sessions`, `profile`, `reset`, `verify`,
//! `passkeys`, `forward`, `probes`, `openapi`, and the `pages`), then what cuts across them:
//! the classic `flow`, `input`, `origins`, `security`, `observability` (logs and metrics),
//! `limits`, `fairness`, `races`, `mail` delivery, `operations`, `durability`, `outage`,
//! `policy` (passwords), `upgrade`, `embedding`, `audit` (the audit log, with
//! `GET /profile/activity`). A test that runs on each
//! backend is one test per backend (`each_backend!`: `name::sqlite`, `name::postgres`).
#![allow(clippy::unwrap_used, missing_docs)]

mod authenticator;
mod helpers;
mod oidc_mock;

mod admin;
mod forward;
mod host;
mod openapi;
mod pages;
mod passkeys;
mod probes;
mod profile;
mod reset;
mod sessions;
mod totp;
mod users;
mod verify;

mod audit;
mod durability;
mod embedding;
mod fairness;
mod flow;
mod input;
mod limits;
mod log_targets;
mod mail;
mod observability;
mod operations;
mod origins;
mod outage;
mod policy;
mod races;
mod security;
mod upgrade;
