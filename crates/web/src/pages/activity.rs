//! The "Recent activity" section of `/account`: the account's last events from the audit log
//! (those `GET /profile/activity` answers), each as when, what in plain words, the device and
//! the address, so that a person can spot a sign-in that was not theirs.

use auth::{AuditEvent, AuditRow};
use serde_json::Value;

use super::device::device_name;
use super::when::When;

/// An event as the account page shows it.
pub(crate) struct ActivityItem {
    /// "3 minutes ago", with the exact time.
    pub(crate) at: When,
    /// "Signed in with a passkey".
    pub(crate) what: String,
    /// "Firefox on Linux", as the devices are named.
    pub(crate) device: String,
    /// The client's address, or "unknown".
    pub(crate) ip: String,
}

/// The section's rows, newest first (as `rows` come), their times as seen at `now`.
pub(super) fn items(rows: &[AuditRow], now: i64) -> Vec<ActivityItem> {
    rows.iter()
        .map(|row| ActivityItem {
            at: When::at(row.at, now),
            what: what(row),
            device: device_name(row.user_agent.as_deref()),
            ip: row.ip.clone().unwrap_or_else(|| "unknown".to_owned()),
        })
        .collect()
}

/// What happened, in plain words.
fn what(row: &AuditRow) -> String {
    let detail: Value = serde_json::from_str(&row.detail).unwrap_or(Value::Null);
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or("");
    let number = |key: &str| detail.get(key).and_then(Value::as_i64).unwrap_or(0);
    let confirming = detail.get("confirmation").and_then(Value::as_bool) == Some(true);
    let Some(event) = AuditEvent::parse(&row.event) else {
        // A name from a newer release: shown as stored.
        return row.event.replace('_', " ");
    };
    let words = match event {
        AuditEvent::Registered => "Account created",
        AuditEvent::LoginSucceeded => match text("method") {
            "password" => "Signed in with the password",
            "totp" => "Signed in with the password and an app code",
            "recovery_code" => "Signed in with the password and a recovery code",
            "passkey" => "Signed in with a passkey",
            "oidc" => return format!("Signed in with {}", provider(&detail)),
            _ => "Signed in",
        },
        AuditEvent::LoginFailed => match (text("method"), confirming) {
            ("password", false) => "Sign-in failed: wrong password",
            ("password", true) => "Wrong password given to confirm a change",
            (_, false) => "Sign-in failed: wrong code",
            (_, true) => "Wrong code given to confirm a change",
        },
        AuditEvent::LoginThrottled => "Sign-in paused after too many failed attempts",
        AuditEvent::LoggedOut => "Signed out",
        AuditEvent::SessionRevoked => match text("which") {
            "one" => "A device signed out",
            "others" => {
                let count = number("count");
                let devices = if count == 1 { "device" } else { "devices" };
                return format!("{count} other {devices} signed out");
            }
            _ => "Every device signed out",
        },
        AuditEvent::PasswordChanged => "Password changed",
        AuditEvent::ResetRequested => "Password reset asked for",
        AuditEvent::PasswordReset => "Password set with a reset link",
        AuditEvent::EmailVerified => "Email address confirmed",
        AuditEvent::TwoFactorEnabled => "Two-factor authentication turned on",
        AuditEvent::TwoFactorDisabled => "Two-factor authentication turned off",
        AuditEvent::RecoveryCodeUsed => {
            let left = number("remaining");
            let codes = if left == 1 { "code" } else { "codes" };
            return format!("Recovery code used ({left} {codes} left)");
        }
        AuditEvent::RecoveryCodesRegenerated => "New recovery codes made",
        AuditEvent::PasskeyAdded => return named("Passkey", text("name"), "added"),
        AuditEvent::PasskeyRemoved => "Passkey removed",
        AuditEvent::PasskeyUsed => return named("Passkey", text("name"), "used"),
        AuditEvent::OidcConnected => return format!("{} connected", provider(&detail)),
        AuditEvent::OidcDisconnected => return format!("{} disconnected", provider(&detail)),
        AuditEvent::OidcSignInRefused => {
            return format!(
                "Sign-in with {} refused: not connected to this account",
                provider(&detail)
            )
        }
        AuditEvent::AccountDeleted => "Account deleted",
        AuditEvent::AdminUserCreated => "Account created by an administrator",
        AuditEvent::AdminUserDisabled => "Account disabled by an administrator",
        AuditEvent::AdminUserEnabled => "Account enabled by an administrator",
        AuditEvent::AdminUserVerified => "Email confirmation changed by an administrator",
        AuditEvent::AdminUserDeleted => "Account deleted by an administrator",
        AuditEvent::AdminSessionsRevoked => "Every device signed out by an administrator",
        AuditEvent::AdminTwoFactorReset => "Two-factor authentication reset by an administrator",
        AuditEvent::AdminPasskeyRemoved => "Passkey removed by an administrator",
        AuditEvent::AdminResetLinkIssued => "Password reset link made by an administrator",
    };
    words.to_owned()
}

/// A sign-in provider's name, as the event recorded it (else its id).
fn provider(detail: &Value) -> String {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or("");
    match (text("name"), text("provider")) {
        ("", "") => "a sign-in provider".to_owned(),
        ("", id) => id.to_owned(),
        (name, _) => name.to_owned(),
    }
}

/// "Passkey “Laptop” added", or "Passkey added" without a name.
fn named(what: &str, name: &str, done: &str) -> String {
    if name.is_empty() {
        format!("{what} {done}")
    } else {
        format!("{what} “{name}” {done}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event: &str, detail: &str) -> AuditRow {
        AuditRow {
            id: 1,
            at: 1_700_000_000,
            event: event.to_owned(),
            user_id: Some(1),
            actor: "user".to_owned(),
            ip: None,
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".to_owned()),
            request_id: None,
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn every_event_has_words_of_its_own() {
        let mut seen = std::collections::HashSet::new();
        for event in AuditEvent::ALL {
            let words = what(&row(event.as_str(), "{}"));
            assert!(!words.contains('_'), "{words}");
            assert!(seen.insert(words.clone()), "{words} twice");
        }
    }

    #[test]
    fn the_detail_picks_the_words() {
        let say = |event, detail| what(&row(event, detail));
        assert_eq!(
            say("login_succeeded", r#"{"method":"passkey"}"#),
            "Signed in with a passkey"
        );
        assert_eq!(
            say("login_failed", r#"{"method":"totp"}"#),
            "Sign-in failed: wrong code"
        );
        assert_eq!(
            say(
                "login_failed",
                r#"{"method":"password","confirmation":true}"#
            ),
            "Wrong password given to confirm a change"
        );
        assert_eq!(
            say("session_revoked", r#"{"count":2,"which":"others"}"#),
            "2 other devices signed out"
        );
        assert_eq!(
            say("recovery_code_used", r#"{"remaining":1}"#),
            "Recovery code used (1 code left)"
        );
        assert_eq!(
            say("passkey_added", r#"{"name":"Laptop","passkey":"ab"}"#),
            "Passkey “Laptop” added"
        );
        assert_eq!(say("something_new", "{}"), "something new");
    }

    #[test]
    fn the_section_takes_under_0_3_kb_and_each_event_under_0_8_kb_whatever_it_shows() {
        use askama::Template;
        let size = |activity: Option<Vec<ActivityItem>>| {
            let mut page = super::super::view::Page::new("", "Your account");
            page.activity = activity;
            page.render().unwrap().len()
        };
        // The longest of each part, in the characters askama writes as 5 bytes (`&#60;`): a
        // passkey's name (64 characters), a device's name (40 and "…"), an IPv6 address.
        let worst = || ActivityItem {
            at: When::at(253_402_300_740, 0),
            what: named("Passkey", &"<".repeat(64), "added"),
            device: device_name(Some(&"<".repeat(256))),
            ip: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".to_owned(),
        };
        let without = size(None);
        assert!(size(Some(Vec::new())) - without < 300);
        for rows in [1, 50] {
            let grown = size(Some((0..rows).map(|_| worst()).collect())) - without;
            assert!(grown < 300 + 800 * rows, "{rows} rows: {grown} bytes");
        }
    }

    #[test]
    fn a_row_shows_its_time_device_and_address() {
        let shown = items(&[row("logged_out", "{}")], 1_700_000_000 + 180);
        assert_eq!(shown[0].at.exact, "2023-11-14 22:13 UTC");
        assert_eq!(shown[0].at.relative, "3 minutes ago");
        assert_eq!(shown[0].what, "Signed out");
        assert_eq!(shown[0].device, "Firefox on Linux");
        assert_eq!(shown[0].ip, "unknown");
    }
}
