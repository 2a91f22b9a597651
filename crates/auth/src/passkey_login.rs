//! Signing in with a passkey, no email or password typed: a discoverable ceremony in two
//! requests, its state in a row of its own (see `passkey.rs`), taken once on whichever
//! instance answers the second.

use db::{AuditEvent, DbError, NewPasskeyCeremony, User, UserChanges};
use serde_json::json;
use tracing::instrument;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, WebauthnError,
};

use crate::error::AuthError;
use crate::passkey::{internal, new_public_id, reason, PasskeyChallenge};
use crate::passkey::{AUTHENTICATION, PASSKEY_CHALLENGE_SECS};
use crate::service::Auth;
use crate::sessions::ClientInfo;
use crate::throttle::Owner;
use crate::token::SessionToken;

impl Auth {
    /// Begins a sign-in with a passkey: discoverable, so the options name no credential and
    /// the authenticator offers the ones it holds for this site.
    ///
    /// Errors: `PasskeysOff`; `Storage`.
    pub fn start_passkey_sign_in(&self) -> Result<PasskeyChallenge, AuthError> {
        let webauthn = self.relying_party()?;
        let (mut options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|_| AuthError::PasskeyFailed("sign-in options"))?;
        // webauthn-rs asks for conditional mediation (autofill); the page chooses, as a
        // button asks for a modal prompt.
        options.mediation = None;
        let state = serde_json::to_string(&state).map_err(internal("sign-in state"))?;
        let options = serde_json::to_value(&options).map_err(internal("sign-in options"))?;
        let challenge_id = new_public_id();
        let now = self.now();
        self.db.begin_passkey_ceremony(
            &NewPasskeyCeremony {
                challenge_id: &challenge_id,
                purpose: AUTHENTICATION,
                user_id: None,
                session_id: None,
                state: &state,
                expires_at: now.saturating_add(PASSKEY_CHALLENGE_SECS),
            },
            now,
        )?;
        Ok(PasskeyChallenge {
            challenge_id,
            options,
        })
    }

    /// Finishes a sign-in with a passkey and starts a session for `client`, as
    /// [`Auth::log_in_from`] does (the same session limit, the same `login_ok` log line, with
    /// `method = "passkey"`). The attempt is counted for throttling under `client_key` (the
    /// client's address, as the caller keys it) before anything is checked, and a success
    /// clears it: there is no account to count against until the credential is known.
    ///
    /// A passkey is both factors (something held, unlocked by something known or by the
    /// person): no further code is asked for.
    ///
    /// Errors: `PasskeysOff`; `Throttled` while the address is locked; `PasskeyNotRecognised`
    /// for anything wrong with the challenge (unknown, used, expired) or the credential
    /// (unknown, removed, bad signature, no user verification, a sign counter that went
    /// back); `EmailNotVerified` for an account that must confirm its address first;
    /// `AccountDisabled` for a disabled account; `Storage`.
    #[instrument(target = "authd::auth::passkey_login", skip_all, fields(user_id))]
    pub fn finish_passkey_sign_in(
        &self,
        challenge_id: &str,
        credential: &str,
        client: &ClientInfo,
        client_key: &str,
    ) -> Result<(User, SessionToken), AuthError> {
        let webauthn = self.relying_party()?;
        // A key no login can produce (login keys are trimmed): a newline first.
        let counted = match self.count_attempt(&format!("\npasskey {client_key}"), Owner::Nobody) {
            Ok(counted) => counted,
            Err(throttled @ AuthError::Throttled { .. }) => {
                tracing::info!(target: "authd::auth::passkey_login",
                    event = "login_throttled",
                    method = "passkey",
                    "passkey sign-in throttled"
                );
                return Err(throttled);
            }
            Err(e) => return Err(e),
        };
        let refuse = |why: &str| {
            tracing::info!(target: "authd::auth::passkey_login",
                event = "login_failed",
                method = "passkey",
                reason = why,
                "passkey sign-in failed"
            );
            AuthError::PasskeyNotRecognised
        };
        let credential: PublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| refuse("malformed"))?;
        let now = self.now();
        let state = self
            .db
            .take_passkey_ceremony(challenge_id, AUTHENTICATION, None, now)?
            .ok_or_else(|| refuse("challenge"))?;
        let state: DiscoverableAuthentication =
            serde_json::from_str(&state).map_err(internal("sign-in state"))?;
        let (handle, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|_| refuse("no_user_handle"))?;
        let user_id = self
            .db
            .find_passkey_user(&handle.to_string())?
            .ok_or_else(|| refuse("unknown_user_handle"))?;
        tracing::Span::current().record("user_id", user_id);
        let row = self
            .db
            .find_passkey_by_credential(&hex::encode(credential_id))?
            .filter(|row| row.user_id == user_id)
            .ok_or_else(|| refuse("unknown_credential"))?;
        let mut passkey: Passkey =
            serde_json::from_str(&row.passkey).map_err(internal("stored passkey"))?;
        let result = webauthn
            .finish_discoverable_authentication_v2(&credential, state, &passkey)
            .map_err(|e| {
                let why = reason(&e);
                if matches!(e, WebauthnError::CredentialPossibleCompromise) {
                    tracing::warn!(target: "authd::auth::passkey_login", event = "passkey_counter_regressed", passkey_id = %row.public_id, "passkey sign counter went back: a cloned authenticator?");
                }
                refuse(&why)
            })?;
        passkey.update_credential(&result);
        let serialised = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
        let using = self.audited(
            AuditEvent::PasskeyUsed,
            Some(user_id),
            json!({"passkey": row.public_id, "name": row.name}),
        );
        match using.record_passkey_use(row.id, row.version, &serialised, now) {
            Ok(()) => {}
            // Another sign-in with it (or its removal) came first: only one may count.
            Err(DbError::Conflict) => return Err(refuse("concurrent_use")),
            Err(e) => return Err(e.into()),
        }
        let user = self
            .find_user_by_id(user_id)?
            .ok_or_else(|| refuse("account_gone"))?;
        if let Err(disabled) = self.refuse_disabled(&user, "passkey") {
            self.clear_attempts(counted)?;
            return Err(disabled);
        }
        if self.config.require_verified_email && user.email_verified_at.is_none() {
            self.clear_attempts(counted)?;
            tracing::info!(target: "authd::auth::passkey_login",
                event = "login_unverified",
                method = "passkey",
                "login refused: email not verified"
            );
            return Err(AuthError::EmailNotVerified);
        }
        // A passkey sign-in is both factors: the session is issued here, never held for a
        // second factor (two-factor must not ask this sign-in for a code).
        let signed_in = self.audited(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            json!({"method": "passkey", "passkey": row.public_id}),
        );
        let (user, token) =
            self.start_session(&signed_in, &user, UserChanges::default(), None, client)?;
        self.clear_attempts(counted)?;
        tracing::info!(target: "authd::auth::passkey_login", event = "login_ok", method = "passkey", passkey_id = %row.public_id, "logged in");
        Ok((user, token))
    }
}
