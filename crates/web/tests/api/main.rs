//! HTTP tests: the real server on 127.0.0.1:0 over a fresh database, driven by a real client.
#![allow(clippy::unwrap_used, missing_docs)]

mod browsers;
mod durability;
mod embedding;
mod endpoints;
mod fairness;
mod flow;
mod helpers;
mod input;
mod limits;
mod mail;
mod observability;
mod openapi;
mod operations;
mod outage;
mod pages;
mod races;
mod security;
mod sessions;
mod upgrade;
