//! Sessions: one row per signed-in device, stored as a digest with an expiry, looked up on a
//! unique index, and listed and revoked by a public id unrelated to the token.

use db::{Alive, AuditEvent, Db, DbError, NewSession, User, UserChanges, UserId};
use serde_json::json;
use tracing::instrument;

use crate::clock::secs;
use crate::error::AuthError;
use crate::service::Auth;
use crate::token::digest;
use crate::token::SessionToken;

/// A session's last use is written at most once per this many seconds, so reading a session
/// is not a database write on every request. With an idle timeout under two minutes it is
/// written every half of that timeout instead, so a session in use
/// never looks idle.
pub const LAST_SEEN_EVERY_SECS: i64 = 60;

/// How often a session's use is recorded under an idle timeout of `idle` seconds (0: none):
/// every minute, or every half of the timeout when that is shorter. A session used at least
/// every `idle / 2` seconds is then always seen within the timeout: its recorded use lags its
/// real use by less than half of it.
pub(crate) fn last_seen_every(idle: i64) -> i64 {
    if idle > 0 {
        LAST_SEEN_EVERY_SECS.min(idle / 2).max(1)
    } else {
        LAST_SEEN_EVERY_SECS
    }
}

/// The most sessions [`Auth::list_sessions`] returns (the newest), whatever the limit per user.
pub const MAX_LISTED_SESSIONS: i64 = 100;

/// Where a login comes from, kept with its session for the owner to see. Build it with
/// [`ClientInfo::new`] or `ClientInfo::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The `User-Agent` header; cut to 256 characters when stored.
    pub user_agent: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// A client with this `User-Agent` and IP address.
    pub fn new(user_agent: Option<String>, ip: Option<String>) -> Self {
        ClientInfo { user_agent, ip }
    }
}

/// A session as its owner sees it: never the token or its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The public id: 32 lowercase hex characters, random, unrelated to the token, so
    /// knowing it lets nobody use the session.
    pub id: String,
    /// Unix seconds of the login.
    pub created_at: i64,
    /// Unix seconds of the latest use, to the minute.
    pub last_seen_at: i64,
    /// Unix seconds after which the session is dead.
    pub expires_at: i64,
    /// The client's `User-Agent` at login (at most 256 characters), without control,
    /// invisible or direction-changing characters.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
}

impl From<db::Session> for SessionInfo {
    fn from(row: db::Session) -> Self {
        SessionInfo {
            id: row.public_id,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            // Cleaned again on the way out: rows stored before the rule may hold overrides.
            user_agent: row
                .user_agent
                .as_deref()
                .and_then(NewSession::cut_user_agent),
            ip: row.ip,
        }
    }
}

/// The owner of a live session token, and the session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authenticated {
    /// The session's user.
    pub user: User,
    /// The session itself.
    pub session: SessionInfo,
}

/// Whether `id` has the shape of a public session id (32 lowercase hex characters); anything
/// else names no session and costs no query.
pub(crate) fn is_public_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Auth {
    /// Starts a new session for `email` and returns its token; `None` for an unknown (or
    /// malformed) email. With the default `max_sessions_per_user` of 1 it replaces any earlier
    /// session, as the classic contract says. Errors: `AccountDisabled` for a disabled account.
    #[instrument(target = "authd::auth::sessions", skip_all, fields(user_id))]
    pub fn create_session(&self, email: &str) -> Result<Option<SessionToken>, AuthError> {
        let Some(user) = self.find_user_by_email(email)? else {
            return Ok(None);
        };
        tracing::Span::current().record("user_id", user.id);
        let (_, token) = self.start_session(
            &self.db,
            &user,
            UserChanges::default(),
            None,
            &ClientInfo::default(),
        )?;
        Ok(Some(token))
    }

    /// Writes a fresh session for `user` (and `extra` changes to it), ending sessions beyond
    /// the configured limit, in one transaction on `db` (an audited handle: with the sign-in's
    /// event). With `expected_hash`, only while the stored password hash is still that one
    /// (else `Storage(Conflict)`); never for a disabled account (`AccountDisabled`).
    pub(crate) fn start_session(
        &self,
        db: &Db,
        user: &User,
        extra: UserChanges,
        expected_hash: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        let token = SessionToken::generate();
        let now = self.now();
        let new = NewSession {
            public_id: uuid::Uuid::new_v4().simple().to_string(),
            token_digest: token.digest(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(secs(self.config.session_ttl)),
            user_agent: client
                .user_agent
                .as_deref()
                .and_then(NewSession::cut_user_agent),
            ip: client.ip.clone(),
        };
        let user = db
            .start_session(
                &new,
                expected_hash,
                &extra,
                self.config.max_sessions_per_user,
                self.alive(now),
            )
            .map_err(|e| match e {
                DbError::NoResultFound => AuthError::UnknownUser,
                e => e.into(),
            })
            .map_err(|e| self.session_refused(user.id, e))?;
        Ok((user, token))
    }

    /// Which sessions are alive at `now`: unexpired, and used within the idle timeout if one
    /// is set.
    pub(crate) fn alive(&self, now: i64) -> Alive {
        let idle = secs(self.config.session_idle_timeout);
        Alive {
            now,
            seen_after: if idle > 0 {
                now.saturating_sub(idle)
            } else {
                i64::MIN
            },
        }
    }

    /// The live session of `token` and its user; `None` for an empty, unknown, expired or
    /// idle one. Records the use (at most once a minute per session, or every half of the
    /// idle timeout when that is shorter: the write is conditional on the last one being
    /// older). A failed record of use is logged, not an error: the request it serves is a read.
    pub fn authenticate(&self, token: &str) -> Result<Option<Authenticated>, AuthError> {
        if token.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let Some((user, session)) = self.db.find_session(&digest(token), self.alive(now))? else {
            return Ok(None);
        };
        let every = last_seen_every(secs(self.config.session_idle_timeout));
        if session.last_seen_at < now.saturating_sub(every) {
            if let Err(error) = self.db.touch_session(session.id, now, every) {
                tracing::warn!(target: "authd::auth::sessions", %error, user_id = user.id, "could not record a session's use");
            }
        }
        Ok(Some(Authenticated {
            user,
            session: session.into(),
        }))
    }

    /// [`Auth::authenticate`] from async code (needs a tokio runtime, as actix's): the same
    /// answer and the same record of use, without tying up a thread. The lookup runs on the
    /// calling thread's own database connection when it can (SQLite: inline; PostgreSQL:
    /// pipelined with the thread's other checks), else on the blocking pool; which one is
    /// the backend's choice. No answer is cached: a revoked session is refused at once.
    pub async fn authenticate_async(
        &self,
        token: &str,
    ) -> Result<Option<Authenticated>, AuthError> {
        if token.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let found = self
            .db
            .find_session_async(&digest(token), self.alive(now))
            .await?;
        let Some((user, session)) = found else {
            return Ok(None);
        };
        let every = last_seen_every(secs(self.config.session_idle_timeout));
        if session.last_seen_at < now.saturating_sub(every) {
            if let Err(error) = self.db.touch_session_async(session.id, now, every).await {
                tracing::warn!(target: "authd::auth::sessions", %error, user_id = user.id, "could not record a session's use");
            }
        }
        Ok(Some(Authenticated {
            user,
            session: session.into(),
        }))
    }

    /// The user whose live session this token is; `None` for an empty, unknown, expired or
    /// idle one. See [`Auth::authenticate`].
    pub fn get_user_from_session_id(&self, session_id: &str) -> Result<Option<User>, AuthError> {
        Ok(self.authenticate(session_id)?.map(|found| found.user))
    }

    /// Ends every session of the user (the contract's `destroy_session`: "the user has no
    /// session any more"). Errors: `UnknownUser` for an id nobody has.
    #[instrument(target = "authd::auth::sessions", skip_all, fields(user_id))]
    pub fn destroy_session(&self, user_id: UserId) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let ending = self.audited(
            AuditEvent::SessionRevoked,
            Some(user_id),
            json!({"which": "all"}),
        );
        match ending.end_sessions_except(user_id, None) {
            Ok(ended) => {
                tracing::info!(target: "authd::auth::sessions", event = "logout", ended, "every session ended");
                Ok(())
            }
            Err(DbError::NoResultFound) => Err(AuthError::UnknownUser),
            Err(e) => Err(e.into()),
        }
    }

    /// The user's live sessions, newest first (at most [`MAX_LISTED_SESSIONS`]).
    pub fn list_sessions(&self, user_id: UserId) -> Result<Vec<SessionInfo>, AuthError> {
        let rows = self
            .db
            .list_sessions(user_id, self.alive(self.now()), MAX_LISTED_SESSIONS)?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// Ends the user's session with public id `session_id` (logout uses it for the current
    /// session; a user may end any of their own).
    ///
    /// Errors: `UnknownSession` when the user has no session of that id, including when the
    /// id is another user's: nothing of theirs is touched or revealed.
    #[instrument(target = "authd::auth::sessions", skip_all, fields(user_id))]
    pub fn revoke_session(&self, user_id: UserId, session_id: &str) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let ending = self.audited(
            AuditEvent::SessionRevoked,
            Some(user_id),
            json!({"which": "one"}),
        );
        self.end_session(&ending, user_id, session_id, "session_revoked")
    }

    /// Logs out: ends the user's session with public id `session_id`, the one the request
    /// came with; the account's other sessions stay. An audit line says `logout`.
    ///
    /// Errors: as [`Auth::revoke_session`].
    #[instrument(target = "authd::auth::sessions", skip_all, fields(user_id))]
    pub fn log_out(&self, user_id: UserId, session_id: &str) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let ending = self.audited(AuditEvent::LoggedOut, Some(user_id), json!({}));
        self.end_session(&ending, user_id, session_id, "logout")
    }

    /// Ends the session on `db`, an audited handle: its event is recorded only when the
    /// session ended.
    fn end_session(
        &self,
        db: &Db,
        user_id: UserId,
        session_id: &str,
        event: &'static str,
    ) -> Result<(), AuthError> {
        if !is_public_id(session_id) || !db.end_session(user_id, session_id)? {
            return Err(AuthError::UnknownSession);
        }
        tracing::info!(target: "authd::auth::sessions", event, "session ended");
        Ok(())
    }

    /// Ends every session of the user except `current` (the caller's own). Returns how many
    /// ended. Errors: `UnknownUser` for an id nobody has.
    #[instrument(target = "authd::auth::sessions", skip_all, fields(user_id))]
    pub fn revoke_other_sessions(
        &self,
        user_id: UserId,
        current: &str,
    ) -> Result<usize, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        // The event says how many ended (`count`), and is recorded only when some did.
        let ending = self.audited(
            AuditEvent::SessionRevoked,
            Some(user_id),
            json!({"which": "others"}),
        );
        match ending.end_sessions_except(user_id, Some(current)) {
            Ok(ended) => {
                tracing::info!(target: "authd::auth::sessions",
                    event = "other_sessions_revoked",
                    ended,
                    "other sessions ended"
                );
                Ok(ended)
            }
            Err(DbError::NoResultFound) => Err(AuthError::UnknownUser),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_is_recorded_every_minute_or_every_half_of_a_shorter_idle_timeout() {
        assert_eq!(last_seen_every(0), 60);
        assert_eq!(last_seen_every(60), 30);
        assert_eq!(last_seen_every(90), 45);
        assert_eq!(last_seen_every(120), 60);
        assert_eq!(last_seen_every(3600), 60);
    }

    #[test]
    fn only_32_lowercase_hex_characters_can_be_a_public_id() {
        assert!(is_public_id("0123456789abcdef0123456789abcdef"));
        for id in [
            "",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "others",
            "0123456789abcdef0123456789abcdeg",
            "é123456789abcdef0123456789abcde",
        ] {
            assert!(!is_public_id(id), "{id}");
        }
    }
}
