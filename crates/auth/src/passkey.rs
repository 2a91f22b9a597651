//! Passkeys (WebAuthn with discoverable credentials): adding one to an account, listing,
//! renaming and removing them; signing in with one is `passkey_login.rs`.
//!
//! Each ceremony is two requests: the first stores webauthn-rs's state (the challenge) in a
//! row of its own and answers the options for the browser; the second takes that row (a
//! conditional delete, so a challenge answers once, on whichever instance) and checks the
//! authenticator's answer against it. A registration's row names the account and the session
//! that asked. Nothing of a challenge, a credential or a key is logged.

use db::{AddedPasskey, AuditEvent, DbError, NewPasskey, NewPasskeyCeremony, PasskeyRow, UserId};
use serde_json::json;
use tracing::instrument;
use webauthn_rs::prelude::{
    PasskeyRegistration, RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};
use webauthn_rs_proto::{AuthenticatorSelectionCriteria, ResidentKeyRequirement};

use crate::config::PasskeyConfig;
use crate::error::AuthError;
use crate::service::Auth;
use crate::sessions::is_public_id;

/// How long a ceremony's challenge lives, in seconds (the browser's prompt has as long).
pub const PASSKEY_CHALLENGE_SECS: i64 = 300;

/// The most passkeys one account holds.
pub const MAX_PASSKEYS_PER_USER: usize = 20;

/// The longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// The name of a passkey added without one.
const DEFAULT_NAME: &str = "Passkey";

const REGISTRATION: &str = "registration";
pub(crate) const AUTHENTICATION: &str = "authentication";

/// A ceremony begun: the id to send back with the answer, and the options for the browser
/// (`{"publicKey": …}`, in the shapes of `PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PasskeyChallenge {
    /// 32 hex characters; names the ceremony in the second request.
    pub challenge_id: String,
    /// `{"publicKey": {…}}`. A sign-in's carries no `mediation`: the page chooses it.
    pub options: serde_json::Value,
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyInfo {
    /// Public id (32 hex characters, random).
    pub id: String,
    /// The owner's name for it.
    pub name: String,
    /// Unix seconds when it was added.
    pub created_at: i64,
    /// Unix seconds of the latest sign-in with it.
    pub last_used_at: Option<i64>,
}

impl From<PasskeyRow> for PasskeyInfo {
    fn from(row: PasskeyRow) -> Self {
        PasskeyInfo {
            id: row.public_id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// The relying party, built once at connect from the configuration.
pub(crate) fn relying_party(config: &PasskeyConfig) -> Result<Webauthn, AuthError> {
    let origin = webauthn_rs::prelude::Url::parse(&config.origin)
        .map_err(|_| AuthError::Config("the passkey origin is not a URL".into()))?;
    WebauthnBuilder::new(&config.rp_id, &origin)
        .and_then(|builder| {
            builder
                .rp_name(&config.rp_id)
                .timeout(std::time::Duration::from_secs(
                    PASSKEY_CHALLENGE_SECS.unsigned_abs(),
                ))
                .build()
        })
        .map_err(|_| {
            AuthError::Config(format!(
                "the passkey origin {} is not within the relying party id {}",
                config.origin, config.rp_id
            ))
        })
}

/// A passkey's name as typed, trimmed: `DEFAULT_NAME` when empty. Errors: `InvalidPasskeyName`
/// over [`MAX_PASSKEY_NAME_CHARS`] or with control, invisible or direction-changing characters.
fn clean_name(name: Option<&str>) -> Result<String, AuthError> {
    let name = name.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Ok(DEFAULT_NAME.to_owned());
    }
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if name.chars().count() > MAX_PASSKEY_NAME_CHARS || name.chars().any(hidden) {
        return Err(AuthError::InvalidPasskeyName);
    }
    Ok(name.to_owned())
}

/// Which of webauthn-rs's reasons it was, for the log: the variant's name only (some carry
/// text taken from the client).
pub(crate) fn reason(error: &WebauthnError) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("")
        .to_owned()
}

pub(crate) fn internal(what: &'static str) -> impl Fn(serde_json::Error) -> AuthError {
    move |_| AuthError::PasskeyFailed(what)
}

impl Auth {
    pub(crate) fn relying_party(&self) -> Result<&Webauthn, AuthError> {
        self.webauthn.as_deref().ok_or(AuthError::PasskeysOff)
    }

    /// Whether passkeys are configured.
    pub fn passkeys_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Begins adding a passkey to `user_id`'s account, for its session `session_id` (public
    /// id): only that session can finish it, within [`PASSKEY_CHALLENGE_SECS`]. The options
    /// ask for a discoverable credential with user verification, and exclude the account's
    /// passkeys.
    ///
    /// Errors: `PasskeysOff`; `UnknownUser`; `TooManyPasskeys` at [`MAX_PASSKEYS_PER_USER`];
    /// `Storage`.
    #[instrument(target = "authd::auth::passkey", skip_all, fields(user_id))]
    pub fn start_passkey_registration(
        &self,
        user_id: UserId,
        session_id: &str,
    ) -> Result<PasskeyChallenge, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let webauthn = self.relying_party()?;
        let user = self
            .find_user_by_id(user_id)?
            .ok_or(AuthError::UnknownUser)?;
        let held = self.db.list_passkeys(user_id)?;
        if held.len() >= MAX_PASSKEYS_PER_USER {
            return Err(AuthError::TooManyPasskeys(MAX_PASSKEYS_PER_USER));
        }
        let handle = match self
            .db
            .ensure_passkey_user_handle(user_id, &Uuid::new_v4().to_string())
        {
            Err(DbError::NoResultFound) => return Err(AuthError::UnknownUser),
            other => other?,
        };
        let handle =
            Uuid::parse_str(&handle).map_err(|_| AuthError::PasskeyFailed("user handle"))?;
        let exclude = held
            .iter()
            .filter_map(|row| hex::decode(&row.credential_id).ok())
            .collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(handle, &user.email, &user.email, Some(exclude))
            .map_err(|_| AuthError::PasskeyFailed("registration options"))?;
        // Sign-in without an email needs the credential to be discoverable: webauthn-rs's
        // passkey registration leaves that to the authenticator, so ask for it.
        let selection = options
            .public_key
            .authenticator_selection
            .get_or_insert_with(AuthenticatorSelectionCriteria::default);
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
        let state = serde_json::to_string(&state).map_err(internal("registration state"))?;
        let options = serde_json::to_value(&options).map_err(internal("registration options"))?;
        let challenge_id = new_public_id();
        let now = self.now();
        self.db.begin_passkey_ceremony(
            &NewPasskeyCeremony {
                challenge_id: &challenge_id,
                purpose: REGISTRATION,
                user_id: Some(user_id),
                session_id: Some(session_id),
                state: &state,
                expires_at: now.saturating_add(PASSKEY_CHALLENGE_SECS),
            },
            now,
        )?;
        tracing::info!(target: "authd::auth::passkey",
            event = "passkey_registration_started",
            "passkey registration started"
        );
        Ok(PasskeyChallenge {
            challenge_id,
            options,
        })
    }

    /// Finishes adding a passkey: `credential` is the browser's answer
    /// (`PublicKeyCredential.toJSON()`, as JSON text) to the options of `challenge_id`, which
    /// `user_id`'s session `session_id` began. `name` (trimmed; default "Passkey") is at most
    /// [`MAX_PASSKEY_NAME_CHARS`] characters. The challenge is used up by any try that gets
    /// this far. Ends no session; the addition is logged (`event = "passkey_added"`).
    ///
    /// Errors: `PasskeysOff`; `InvalidPasskeyName`; `PasskeyNotAccepted` for a credential that
    /// is not one, or that fails verification (signature, origin, user verification…);
    /// `UnknownPasskeyChallenge` for an unknown, used, expired or another session's challenge;
    /// `PasskeyAlreadyRegistered` when the credential is already stored, on any account;
    /// `TooManyPasskeys`; `UnknownUser`; `Storage`.
    #[instrument(target = "authd::auth::passkey", skip_all, fields(user_id))]
    pub fn finish_passkey_registration(
        &self,
        user_id: UserId,
        session_id: &str,
        challenge_id: &str,
        credential: &str,
        name: Option<&str>,
    ) -> Result<PasskeyInfo, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let webauthn = self.relying_party()?;
        let name = clean_name(name)?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| AuthError::PasskeyNotAccepted)?;
        let now = self.now();
        let state = self
            .db
            .take_passkey_ceremony(challenge_id, REGISTRATION, Some((user_id, session_id)), now)?
            .ok_or_else(|| {
                tracing::info!(target: "authd::auth::passkey",
                    event = "passkey_registration_failed",
                    reason = "challenge",
                    "passkey registration refused: unknown, used, expired or foreign challenge"
                );
                AuthError::UnknownPasskeyChallenge
            })?;
        let state: PasskeyRegistration =
            serde_json::from_str(&state).map_err(internal("registration state"))?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| {
                tracing::info!(target: "authd::auth::passkey", event = "passkey_registration_failed", reason = %reason(&e), "passkey registration refused");
                AuthError::PasskeyNotAccepted
            })?;
        let serialised = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
        let public_id = new_public_id();
        let credential_id = hex::encode(passkey.cred_id());
        let adding = self.audited(
            AuditEvent::PasskeyAdded,
            Some(user_id),
            json!({"passkey": public_id, "name": name}),
        );
        let added = adding.add_passkey(
            &NewPasskey {
                public_id: &public_id,
                user_id,
                credential_id: &credential_id,
                passkey: &serialised,
                name: &name,
                created_at: now,
            },
            i64::try_from(MAX_PASSKEYS_PER_USER).unwrap_or(i64::MAX),
        )?;
        match added {
            AddedPasskey::Added(row) => {
                tracing::info!(target: "authd::auth::passkey", event = "passkey_added", passkey_id = %row.public_id, "passkey added");
                Ok(row.into())
            }
            AddedPasskey::AlreadyRegistered => {
                tracing::info!(target: "authd::auth::passkey",
                    event = "passkey_registration_failed",
                    reason = "already_registered",
                    "passkey registration refused"
                );
                Err(AuthError::PasskeyAlreadyRegistered)
            }
            AddedPasskey::TooMany => Err(AuthError::TooManyPasskeys(MAX_PASSKEYS_PER_USER)),
            AddedPasskey::NoSuchUser => Err(AuthError::UnknownUser),
        }
    }

    /// The account's passkeys, oldest first (at most [`MAX_PASSKEYS_PER_USER`]).
    ///
    /// Errors: `Storage`.
    pub fn list_passkeys(&self, user_id: UserId) -> Result<Vec<PasskeyInfo>, AuthError> {
        Ok(self
            .db
            .list_passkeys(user_id)?
            .into_iter()
            .map(PasskeyInfo::from)
            .collect())
    }

    /// Renames the account's passkey `id`.
    ///
    /// Errors: `UnknownPasskey` when the account has no passkey of that id; `InvalidPasskeyName`;
    /// `Storage`.
    #[instrument(target = "authd::auth::passkey", skip_all, fields(user_id))]
    pub fn rename_passkey(
        &self,
        user_id: UserId,
        id: &str,
        name: &str,
    ) -> Result<PasskeyInfo, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let name = clean_name(Some(name))?;
        if !is_public_id(id) {
            return Err(AuthError::UnknownPasskey);
        }
        let row = self
            .db
            .rename_passkey(user_id, id, &name)?
            .ok_or(AuthError::UnknownPasskey)?;
        tracing::info!(target: "authd::auth::passkey", event = "passkey_renamed", passkey_id = %row.public_id, "passkey renamed");
        Ok(row.into())
    }

    /// Removes the account's passkey `id` (the last one too, while the account keeps its
    /// password or a sign-in provider). Ends no session; the removal is logged (`event =
    /// "passkey_removed"`).
    ///
    /// Errors: `UnknownPasskey` when the account has no passkey of that id; `LastWayIn` when
    /// it is the account's only way in (an account made through a provider, disconnected from
    /// it); `Storage`.
    #[instrument(target = "authd::auth::passkey", skip_all, fields(user_id))]
    pub fn remove_passkey(&self, user_id: UserId, id: &str) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let removing = self.audited(
            AuditEvent::PasskeyRemoved,
            Some(user_id),
            json!({"passkey": id}),
        );
        if !is_public_id(id) {
            return Err(AuthError::UnknownPasskey);
        }
        match removing.remove_own_passkey(user_id, id)? {
            db::Disconnected::Disconnected => {}
            db::Disconnected::NotConnected => return Err(AuthError::UnknownPasskey),
            db::Disconnected::LastWayIn => return Err(AuthError::LastWayIn),
        }
        tracing::info!(target: "authd::auth::passkey", event = "passkey_removed", passkey_id = %id, "passkey removed");
        Ok(())
    }
}

/// 32 random lowercase hex characters: a ceremony's or a passkey's public id.
pub(crate) fn new_public_id() -> String {
    Uuid::new_v4().simple().to_string()
}
