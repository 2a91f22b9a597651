//! A sign-in of an account with two-factor sign-in: after the right password, either a code
//! in the same request, or a single-use token (5 minutes, stored as a digest, bound to the
//! account and to the password hash it followed) to give back with the code. Every code tried
//! is counted by the login throttle of the account's address, as a password is.

use db::{AuditEvent, CodeUse, MfaChallenge, NewSession, Refusal, TotpCredential, User};
use db::{UserChanges, UserId};
use serde_json::json;
use tracing::instrument;

use crate::clock::secs;
use crate::error::AuthError;
use crate::login::Verified;
use crate::second_factor::{code_method, MFA_TOKEN_TTL_SECS};
use crate::service::Auth;
use crate::sessions::ClientInfo;
use crate::token::{digest, MfaToken, SessionToken};

/// The digest a sign-in keeps of the password hash it followed: a change or reset in between
/// makes the token useless.
fn hash_digest(hashed_password: &str) -> String {
    digest(hashed_password)
}

impl Auth {
    /// After the right password and no code: the token for the second step. The attempt stays
    /// counted (as a failure) until a code completes the sign-in.
    pub(crate) fn ask_second_factor(&self, verified: Verified) -> Result<AuthError, AuthError> {
        let user = &verified.user;
        let token = MfaToken::generate();
        let now = self.now();
        self.db.add_mfa_challenge(
            &MfaChallenge {
                token_digest: token.digest(),
                user_id: user.id,
                password_digest: hash_digest(user.password_hash()),
                created_at: now,
                expires_at: now.saturating_add(MFA_TOKEN_TTL_SECS),
            },
            now,
        )?;
        tracing::info!(target: "authd::auth::mfa_login",
            event = "login_second_factor",
            "password right: code required"
        );
        Ok(AuthError::SecondFactorRequired(token))
    }

    /// Completes a sign-in whose password was right with `code`.
    pub(crate) fn finish_with_code(
        &self,
        verified: Verified,
        credential: &TotpCredential,
        code: &str,
        changes: UserChanges,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        let user = &verified.user;
        let started = self
            .code_use(user, credential, code)
            .and_then(|used| self.start_session_with(user, &used, None, changes, client));
        let (user, token) = self.noting_wrong_code(user.id, code, false, started)?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::mfa_login", event = "login_ok", second_factor = true, "logged in");
        Ok((user, token))
    }

    /// The second step of a sign-in of an account with two-factor sign-in: `mfa_token` (as
    /// [`AuthError::SecondFactorRequired`] handed it out) and a `code` (the app's current
    /// code, or an unused recovery code in any case, spaces and hyphens ignored) start a
    /// session for `client` as [`Auth::log_in_from`] does. The token works once; the code too.
    ///
    /// Errors: `UnknownMfaToken` for a token unknown, used, expired, or whose account's
    /// password changed since; `Throttled` while the account's address is locked (each code
    /// tried counts as a login attempt; a success clears them); `WrongCode`;
    /// `AccountDisabled`; `SecretUnreadable` (the server's).
    #[instrument(target = "authd::auth::mfa_login", skip_all, fields(user_id))]
    pub fn log_in_second_factor(
        &self,
        mfa_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        let token_digest = digest(mfa_token);
        let challenge = self
            .db
            .find_mfa_challenge(&token_digest, self.now())?
            .ok_or(AuthError::UnknownMfaToken)?;
        tracing::Span::current().record("user_id", challenge.user_id);
        let user = self
            .find_user_by_id(challenge.user_id)?
            .filter(|user| hash_digest(user.password_hash()) == challenge.password_digest)
            .ok_or(AuthError::UnknownMfaToken)?;
        self.refuse_disabled(&user, "code")?;
        let counted = self.count_code_attempt(&user)?;
        let credential = self
            .confirmed_totp(user.id)?
            .ok_or(AuthError::UnknownMfaToken)?;
        let started = self.code_use(&user, &credential, code).and_then(|used| {
            self.start_session_with(
                &user,
                &used,
                Some(&token_digest),
                UserChanges::default(),
                client,
            )
        });
        let (user, token) = self.noting_wrong_code(user.id, code, false, started)?;
        self.clear_attempts(counted)?;
        tracing::info!(target: "authd::auth::mfa_login", event = "login_ok", second_factor = true, "logged in");
        Ok((user, token))
    }

    /// Starts a session for `user` while its hash is the one read, using `code` and the
    /// sign-in's token (a digest) in the same transaction, with its `login_succeeded` event
    /// (and `recovery_code_used` for a recovery code).
    fn start_session_with(
        &self,
        user: &User,
        code: &CodeUse,
        challenge: Option<&str>,
        changes: UserChanges,
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
        let alive = self.alive(now);
        let db = self.signed_in_with(user.id, code)?;
        let user = db
            .start_session_with_factor(
                &new,
                user.password_hash(),
                &changes,
                self.config.max_sessions_per_user,
                alive,
                challenge,
                code,
            )
            .map_err(|e| self.session_refused(user.id, e.into()))?
            .map_err(|refusal| match refusal {
                Refusal::CodeUsed => {
                    tracing::info!(target: "authd::auth::mfa_login", event = "code_replayed", "code refused: used meanwhile");
                    AuthError::WrongCode
                }
                Refusal::PasswordChanged => AuthError::PasswordChanged,
                Refusal::ChallengeGone | Refusal::NotEnabled => AuthError::UnknownMfaToken,
            })?;
        Ok((user, token))
    }

    /// The handle a sign-in with `code` writes its session on: it records `login_succeeded`
    /// (and, for a recovery code, `recovery_code_used`).
    fn signed_in_with(&self, user_id: UserId, code: &CodeUse) -> Result<db::Db, AuthError> {
        let db = self.audited(
            AuditEvent::LoginSucceeded,
            Some(user_id),
            json!({"method": code_method(code)}),
        );
        self.spending(db, user_id, code, None)
    }
}
