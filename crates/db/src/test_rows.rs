//! Rows and readings the unit tests of several modules share.

use user_model::{NewUser, UserId};

use crate::handle::Db;
use crate::session_query::Alive;
use crate::testing::TEST_HASH;

/// At 1000, with no idle timeout: what the tests' sessions are read as.
pub(crate) const FOREVER: Alive = Alive {
    now: 1000,
    seen_after: i64::MIN,
};

/// An unverified account with a pending verification token.
pub(crate) fn unverified(email: &str) -> NewUser<'_> {
    NewUser {
        email,
        hashed_password: TEST_HASH,
        email_verified_at: None,
        // Unique like a digest: the column has a unique index.
        verify_token: Some(email),
        verify_expires_at: Some(500),
    }
}

/// The names (public ids without their `public-` prefix) of `user_id`'s live sessions.
pub(crate) fn names(db: &Db, user_id: UserId) -> Vec<String> {
    db.list_sessions(user_id, FOREVER, 100)
        .unwrap()
        .into_iter()
        .map(|s| s.public_id.trim_start_matches("public-").to_owned())
        .collect()
}
