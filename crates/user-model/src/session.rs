//! The `sessions` row: one signed-in device of an account.

use std::fmt;

use diesel::prelude::*;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::schema::sessions;
use crate::user::UserId;

/// The longest `user_agent` stored, in characters; longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// One row of `sessions`.
///
/// `token_digest` is the SHA-256 digest of the token the client holds, never the token;
/// `public_id` is what the API shows, and is unrelated to either.
#[derive(Queryable, Selectable, Identifiable, Clone, PartialEq, Eq)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// Internal key.
    pub id: i32,
    /// Random public name (32 hex characters).
    pub public_id: String,
    /// Digest of the session token.
    pub token_digest: String,
    /// The owner.
    pub user_id: UserId,
    /// Unix seconds of the login.
    pub created_at: i64,
    /// Unix seconds of the latest use (written at most once a minute).
    pub last_seen_at: i64,
    /// Unix seconds after which the session is dead.
    pub expires_at: i64,
    /// The client's User-Agent at login.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
}

// Hand-written so that the token digest never reaches a log line through `{:?}`.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("public_id", &self.public_id)
            .field("token_digest", &format_args!(".."))
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("user_agent", &self.user_agent)
            .field("ip", &self.ip)
            .finish()
    }
}

/// What a login inserts.
#[derive(Insertable, Clone)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    /// Random public name.
    pub public_id: String,
    /// Digest of the session token.
    pub token_digest: String,
    /// The owner.
    pub user_id: UserId,
    /// Unix seconds of the login.
    pub created_at: i64,
    /// Same as `created_at` at first.
    pub last_seen_at: i64,
    /// Unix seconds after which the session is dead.
    pub expires_at: i64,
    /// Already cut to [`MAX_USER_AGENT_CHARS`] (see [`NewSession::cut_user_agent`]).
    pub user_agent: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
}

impl NewSession {
    /// `raw` without control characters and the invisible or direction-changing ones (every
    /// Unicode format character: bidirectional overrides and isolates, zero-width characters),
    /// so that a device name shows as what it is (`Evil\u{202e}gpj.exe` would read as
    /// `Evilexe.jpg`); then cut to its first [`MAX_USER_AGENT_CHARS`] characters. `None` when
    /// nothing is left. Applied again to rows read back, so rows stored before this rule
    /// show cleaned too.
    pub fn cut_user_agent(raw: &str) -> Option<String> {
        let shown = |c: &char| !c.is_control() && c.general_category() != GeneralCategory::Format;
        let cut: String = raw
            .chars()
            .filter(shown)
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        (!cut.is_empty()).then_some(cut)
    }
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("public_id", &self.public_id)
            .field("token_digest", &format_args!(".."))
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_user_agent_is_cut_to_256_characters_never_inside_one() {
        let long = "é".repeat(300);
        let cut = NewSession::cut_user_agent(&long).unwrap();
        assert_eq!(cut.chars().count(), 256);
        assert_eq!(cut, "é".repeat(256));
        assert_eq!(
            NewSession::cut_user_agent("curl/8").as_deref(),
            Some("curl/8")
        );
        assert_eq!(NewSession::cut_user_agent(""), None);
    }

    #[test]
    fn direction_changing_and_invisible_characters_are_removed_from_a_user_agent() {
        let agent = "Evil\u{202e}gpj.exe\u{202c} \u{2066}x\u{2069}\u{200f}\u{200b}";
        assert_eq!(
            NewSession::cut_user_agent(agent).as_deref(),
            Some("Evilgpj.exe x")
        );
        assert_eq!(NewSession::cut_user_agent("\u{202e}\u{202c}"), None);
    }

    #[test]
    fn debug_output_of_a_session_hides_its_token_digest() {
        let session = Session {
            id: 1,
            public_id: "pub".into(),
            token_digest: "secretdigest".into(),
            user_id: 1,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 0,
            user_agent: None,
            ip: None,
        };
        assert!(!format!("{session:?}").contains("secretdigest"));
    }
}
