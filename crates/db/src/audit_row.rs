//! Writing one audit event row, inside the transaction of the write it records (see
//! `Db::write_for`): its user agent cut, its detail bounded, a count added to it.

use diesel::prelude::*;
use user_model::schema::audit_events;
use user_model::{NewAuditEvent, UserId, MAX_USER_AGENT_CHARS};

use crate::connection::AnyConnection;

/// Most characters of a detail object kept; a longer one is stored as `{}`. Details are
/// written by authd, never by a client, so this only guards against a mistake.
pub const MAX_AUDIT_DETAIL_CHARS: usize = 1024;

/// Inserts `event` on `conn` (inside the caller's transaction). `subject` fills in a missing
/// user id (the account the same write made).
pub(crate) fn insert(
    conn: &mut AnyConnection,
    event: &NewAuditEvent,
    subject: Option<UserId>,
) -> QueryResult<()> {
    let mut row = event.clone();
    if row.user_id.is_none() {
        row.user_id = subject;
    }
    if let Some(agent) = &row.user_agent {
        if agent.chars().count() > MAX_USER_AGENT_CHARS {
            row.user_agent = Some(agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        }
    }
    if row.detail.chars().count() > MAX_AUDIT_DETAIL_CHARS {
        row.detail = "{}".to_owned();
    }
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// `detail` (a JSON object, as authd writes it) with `"name": n` added first. `name` is one
/// of this crate's own, never a client's, so it needs no escaping.
pub(crate) fn with_number(detail: &str, name: &str, n: i64) -> String {
    let rest = detail.trim().strip_prefix('{').unwrap_or("}").trim_start();
    if rest.starts_with('}') {
        format!("{{\"{name}\":{n}}}")
    } else {
        format!("{{\"{name}\":{n},{rest}")
    }
}
