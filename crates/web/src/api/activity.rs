//! `/profile/activity`: the caller's own security events from the audit log, newest first, so
//! that a person can spot a sign-in that was not theirs. `no-store`. [`AuditEventBody`] is an
//! event's shape wherever the API shows one.

use actix_web::web::Data;
use actix_web::HttpResponse;
use auth::AuditRow;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use crate::current_user::CurrentUser;
use crate::error::{ApiError, Message, ServerErrors};
use crate::state::Authd;

/// One event of the audit log, as the API shows it.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub(crate) struct AuditEventBody {
    /// Goes up with every event.
    #[schema(example = 42)]
    pub(crate) id: i64,
    /// Unix seconds of the event (as `GET /sessions` gives times).
    #[schema(example = 1_700_000_000)]
    pub(crate) at: i64,
    /// What happened: a snake_case name the README's "Audit log" lists (`login_succeeded`,
    /// `login_failed`, `password_changed`, …).
    #[schema(example = "login_succeeded")]
    pub(crate) event: String,
    /// The account (kept after the account is deleted).
    pub(crate) user_id: Option<i32>,
    /// Who acted: `user`, `admin`, `cli` or `system`.
    #[schema(example = "user")]
    pub(crate) actor: String,
    /// The client's IP address.
    #[schema(example = "203.0.113.9")]
    pub(crate) ip: Option<String>,
    /// The client's `User-Agent`, at most 256 characters.
    pub(crate) user_agent: Option<String>,
    /// The request's id (its `x-request-id` answer header), to find its log lines.
    pub(crate) request_id: Option<String>,
    /// A small JSON object saying more (`{"method": "password"}` for a sign-in); never a
    /// secret.
    #[schema(value_type = Object, example = json!({"method": "password"}))]
    pub(crate) detail: serde_json::Value,
}

impl From<AuditRow> for AuditEventBody {
    fn from(row: AuditRow) -> Self {
        // authd writes every detail as an object; anything else shows as an empty one.
        let detail = serde_json::from_str(&row.detail)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        AuditEventBody {
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

/// The caller's latest events, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct Activity {
    /// At most 50.
    events: Vec<AuditEventBody>,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(AuditEventBody, Activity)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::of::<__path_activity, _, _>(activity).no_store()]
}

/// The caller's own last 50 security events (sign-ins, failed sign-ins, password and
/// two-factor changes, sessions ended, …), newest first: the account's audit log.
#[utoipa::path(
    get,
    path = "/profile/activity",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The account's latest events, newest first (at most \
            50)", body = Activity,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn activity(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    let rows = authd.run_lookup(move |auth| auth.activity(id)).await?;
    Ok(ok(&Activity {
        events: rows.into_iter().map(AuditEventBody::from).collect(),
    }))
}
