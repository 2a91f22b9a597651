//! `GET /admin/audit`: the audit log, newest first, a page at a time, filtered by account,
//! event and time.

use actix_web::{HttpRequest, HttpResponse};
use auth::{AuditEvent, AuditQuery, AuditRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::access::Operator;
use super::body::{page_size, query};
use crate::api::endpoint::{ok, Endpoint};
use crate::error::{ApiError, Message, ServerErrors};

/// One event: `E` of the admin API.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditEventView {
    /// Goes up with every event: the `after` of the next page is the last one's.
    id: i64,
    /// Unix seconds.
    at: i64,
    /// Its snake_case name (`login_succeeded`, `admin_user_disabled`, …).
    #[schema(example = "admin_user_disabled")]
    event: String,
    /// The account (it may be gone since).
    user_id: Option<i32>,
    /// `user`, `admin`, `cli` or `system`.
    #[schema(example = "admin")]
    actor: String,
    /// The client's address.
    ip: Option<String>,
    /// The client's `User-Agent` (at most 256 characters).
    user_agent: Option<String>,
    /// The request's id (the `x-request-id` of its answer, in its log lines).
    request_id: Option<String>,
    /// A small JSON object (`{"revoked": 3}`, `{"verified": true}`, …); never a secret.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<AuditRow> for AuditEventView {
    fn from(row: AuditRow) -> Self {
        let detail = serde_json::from_str::<serde_json::Value>(&row.detail)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        AuditEventView {
            id: row.id,
            at: row.at,
            event: row.event,
            user_id: row.user_id,
            actor: row.actor,
            ip: row.ip,
            user_agent: row.user_agent,
            request_id: row.request_id,
            detail,
        }
    }
}

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditEventList {
    events: Vec<AuditEventView>,
    /// The `after` of the next (older) page; `null` on the last.
    next: Option<i64>,
}

/// `GET /admin/audit`'s query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditFilter {
    /// Only this account's events.
    user_id: Option<i32>,
    /// Only events of this name (one the README lists).
    event: Option<String>,
    /// Only events at or after this time, in Unix seconds.
    since: Option<i64>,
    /// Events per page: 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next` of the previous page: only older events.
    after: Option<i64>,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(AuditEventView, AuditEventList)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::of::<__path_audit_events, _, _>(audit_events).no_store()]
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    security(("admin_token" = [])),
    params(AuditFilter),
    responses(
        (status = 200, description = "A page of events", body = AuditEventList),
        (status = 400, description = "An unknown parameter or event name, a limit outside 1 \
            to 500, or a value that does not parse", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 429, response = super::TooManyFailures),
        ServerErrors,
    ),
)]
async fn audit_events(operator: Operator, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let filter: AuditFilter = query(&request)?;
    let limit = page_size(filter.limit)?;
    let event = match filter.event {
        None => None,
        Some(name) => Some(
            AuditEvent::parse(&name)
                .ok_or(ApiError::BadBody("unknown event name"))?
                .as_str()
                .to_owned(),
        ),
    };
    let audit_query = AuditQuery {
        user_id: filter.user_id,
        event,
        since: filter.since,
        before_id: filter.after,
        // One more than asked: whether there is a next page.
        limit: limit + 1,
    };
    let mut rows = authd
        .run_lookup(move |auth| auth.audit_events(&audit_query))
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|row| row.id)
    } else {
        None
    };
    Ok(ok(&AuditEventList {
        events: rows.into_iter().map(AuditEventView::from).collect(),
        next,
    }))
}
