//! `authd audit`: the audit log newest first, filtered by account, event and time, a page at
//! a time.

use std::time::{SystemTime, UNIX_EPOCH};

use auth::{AuditQuery, Auth};

use crate::config::AuditArgs;
use crate::operator::output::{event_header, event_json, event_row, Output};
use crate::operator::users::find;
use crate::operator::Failure;

/// Events read per query.
const PAGE: u32 = 500;

/// Prints the events `args` asks for.
pub fn run(auth: &Auth, args: &AuditArgs, out: &mut Output) -> Result<(), Failure> {
    let user_id = match &args.user {
        Some(email) => Some(find(auth, email)?.id),
        None => None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    let mut query = AuditQuery {
        user_id,
        event: args.event.map(|event| event.as_str().to_owned()),
        since: args.since.map(|since| since.unix_secs(now)),
        before_id: None,
        limit: PAGE,
    };
    if !args.json {
        out.line(&event_header())?;
    }
    let mut left = args.limit.unwrap_or(u32::MAX);
    while left > 0 {
        query.limit = left.min(PAGE);
        let events = auth.audit_events(&query).map_err(Failure::Auth)?;
        for event in &events {
            out.line(&if args.json {
                event_json(event)
            } else {
                event_row(event)
            })?;
        }
        left = left.saturating_sub(u32::try_from(events.len()).unwrap_or(u32::MAX));
        match events.last() {
            Some(last) if events.len() == query.limit as usize => query.before_id = Some(last.id),
            _ => break,
        }
        out.flush()?;
    }
    Ok(())
}
