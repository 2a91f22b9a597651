//! How accounts and events print: a table for people (fixed-width columns, the variable one
//! last, so rows print as pages arrive), or one JSON object per line for programs (`jq`
//! reads it, and a long listing streams).

use std::io::{self, BufWriter, StdoutLock, Write};

use auth::{AdminUser, AuditRow};
use serde_json::json;

use crate::operator::dates::format_rfc3339;
use crate::operator::Failure;

/// Standard output, buffered; a reader that went away (`| head`) ends the command quietly.
pub struct Output {
    out: BufWriter<StdoutLock<'static>>,
}

impl Output {
    /// Standard output.
    pub fn stdout() -> Output {
        Output {
            out: BufWriter::new(io::stdout().lock()),
        }
    }

    /// Writes `line` and a line end.
    pub fn line(&mut self, line: &str) -> Result<(), Failure> {
        writeln!(self.out, "{line}").map_err(Failure::Output)
    }

    /// Writes out what is buffered (before a slow step, and at the end).
    pub fn flush(&mut self) -> Result<(), Failure> {
        self.out.flush().map_err(Failure::Output)
    }
}

/// The header of the accounts table.
pub fn user_header() -> String {
    format!(
        "{:>7}  {:<8}  {:<8}  {:<10}  {:>8}  {:>8}  {:<20}  EMAIL",
        "ID", "VERIFIED", "DISABLED", "TWO-FACTOR", "PASSKEYS", "SESSIONS", "CREATED"
    )
}

/// One account as a row of the table.
pub fn user_row(user: &AdminUser) -> String {
    format!(
        "{:>7}  {:<8}  {:<8}  {:<10}  {:>8}  {:>8}  {:<20}  {}",
        user.id,
        yes_no(user.verified),
        yes_no(user.disabled),
        yes_no(user.two_factor),
        user.passkeys,
        user.sessions,
        user.created_at
            .map_or_else(|| "-".to_owned(), format_rfc3339),
        printable(&user.email),
    )
}

/// One account as a JSON object: the admin API's fields.
pub fn user_json(user: &AdminUser) -> String {
    json_line(&json!({
        "id": user.id,
        "email": user.email,
        "created_at": user.created_at,
        "verified": user.verified,
        "disabled": user.disabled,
        "two_factor": user.two_factor,
        "passkeys": user.passkeys,
        "sessions": user.sessions,
    }))
}

/// The header of the events table.
pub fn event_header() -> String {
    format!(
        "{:<20}  {:<26}  {:<6}  {:>7}  {:<15}  DETAIL",
        "AT", "EVENT", "ACTOR", "USER", "ADDRESS"
    )
}

/// One event as a row of the table (the user agent and request id are in `--json`).
pub fn event_row(event: &AuditRow) -> String {
    format!(
        "{:<20}  {:<26}  {:<6}  {:>7}  {:<15}  {}",
        format_rfc3339(event.at),
        printable(&event.event),
        printable(&event.actor),
        event
            .user_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string()),
        event
            .ip
            .as_deref()
            .map_or_else(|| "-".to_owned(), printable),
        printable(&event.detail),
    )
}

/// One event as a JSON object, `detail` as the object it holds.
pub fn event_json(event: &AuditRow) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(&event.detail)
        .unwrap_or_else(|_| serde_json::Value::String(event.detail.clone()));
    json_line(&json!({
        "id": event.id,
        "at": event.at,
        "event": event.event,
        "user_id": event.user_id,
        "actor": event.actor,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "detail": detail,
    }))
}

/// `value` as one line of JSON with every control character escaped: serde_json escapes
/// those below U+0020, this also DEL and the C1 ones (U+0080 to U+009F), which some
/// terminals obey.
fn json_line(value: &serde_json::Value) -> String {
    let mut line = String::new();
    for c in value.to_string().chars() {
        if c.is_control() {
            line.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            line.push(c);
        }
    }
    line
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// `text` with every control character (C0, DEL, C1: what could move a terminal's cursor or
/// change its colours) shown as `\u{…}`: a client-chosen value printed for a person cannot
/// rewrite their screen.
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            shown.push_str(&c.escape_unicode().to_string());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> AdminUser {
        AdminUser {
            id: 42,
            email: "ann@x.io".into(),
            created_at: Some(1_796_554_770),
            verified: true,
            disabled: false,
            two_factor: true,
            passkeys: 2,
            sessions: 3,
        }
    }

    #[test]
    fn an_account_row_lines_up_with_the_header_and_ends_with_the_address() {
        let header = user_header();
        let row = user_row(&user());
        assert_eq!(
            row,
            "     42  yes       no        yes                2         3  \
             2026-12-06T10:59:30Z  ann@x.io"
        );
        assert_eq!(header.find("EMAIL"), row.find("ann@x.io"));
        assert_eq!(header.find("CREATED"), row.find("2026"));
    }

    #[test]
    fn an_account_without_a_creation_time_shows_a_dash() {
        let row = user_row(&AdminUser {
            created_at: None,
            ..user()
        });
        assert!(row.contains("  -  "), "{row}");
    }

    #[test]
    fn an_account_as_json_has_the_admin_apis_fields() {
        let value: serde_json::Value = serde_json::from_str(&user_json(&user())).unwrap();
        assert_eq!(
            value,
            json!({"id": 42, "email": "ann@x.io", "created_at": 1_796_554_770_i64,
                   "verified": true, "disabled": false, "two_factor": true,
                   "passkeys": 2, "sessions": 3})
        );
    }

    fn event() -> AuditRow {
        AuditRow {
            id: 7,
            at: 1_796_554_770,
            event: "login_failed".into(),
            user_id: Some(42),
            actor: "user".into(),
            ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8\u{1b}[2J".into()),
            request_id: Some("r1".into()),
            detail: r#"{"method":"password"}"#.into(),
        }
    }

    #[test]
    fn an_event_row_lines_up_with_the_header() {
        let header = event_header();
        let row = event_row(&event());
        assert_eq!(header.find("EVENT"), row.find("login_failed"));
        assert_eq!(header.find("DETAIL"), row.find(r#"{"method""#));
        assert_eq!(header.find("ADDRESS"), row.find("203.0.113.9"));
    }

    #[test]
    fn an_event_as_json_carries_its_detail_as_an_object() {
        let value: serde_json::Value = serde_json::from_str(&event_json(&event())).unwrap();
        assert_eq!(value["detail"], json!({"method": "password"}));
        assert_eq!(value["user_agent"], "curl/8\u{1b}[2J");
        assert_eq!(value["actor"], "user");
    }

    #[test]
    fn json_lines_escape_every_control_character_and_still_parse() {
        let line = event_json(&AuditRow {
            user_agent: Some("a\u{1b}b\u{7f}c\u{9b}d".into()),
            ..event()
        });
        assert!(!line.chars().any(char::is_control), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["user_agent"], "a\u{1b}b\u{7f}c\u{9b}d");
    }

    #[test]
    fn control_characters_print_escaped() {
        assert_eq!(
            printable("a\u{1b}[2Jb\u{9b}c\u{7f}"),
            "a\\u{1b}[2Jb\\u{9b}c\\u{7f}"
        );
        assert_eq!(printable("émile@bücher.de"), "émile@bücher.de");
    }
}
