//! `GET /admin/audit`: the audit log, newest first, a page at a time, filtered by account,
//! event and time.

use actix_web::{HttpRequest, HttpResponse};
use auth::{AuditEvent, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::access::Operator;
use super::body::{page_size, query};
use crate::api::activity::AuditEventBody;
use crate::api::endpoint::{ok, Endpoint};
use crate::error::{ApiError, Message, ServerErrors};

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditEventList {
    events: Vec<AuditEventBody>,
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
#[openapi(components(schemas(AuditEventBody, AuditEventList)))]
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
        events: rows.into_iter().map(AuditEventBody::from).collect(),
        next,
    }))
}
