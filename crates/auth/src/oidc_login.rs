//! Signing in (or connecting an account) through an outside OpenID Connect provider, in four
//! steps the caller runs in order: [`Auth::begin_oidc`] (a row, and the provider's URL),
//! [`Auth::take_oidc`] on the callback (the row, taken once, on any instance),
//! [`Auth::verify_oidc`] (the code exchanged, the ID token verified: network, async), and
//! [`Auth::finish_oidc`] (who the person is here, by the linking rules).
//!
//! No secret is stored: the PKCE verifier and the nonce are digests of the visitor's cookie
//! (a random secret only that browser holds) and the state, so only the browser that began a
//! sign-in can finish it, and a copy of the database holds nothing that would.
//!
//! The linking rules, for a sign-in (not a connection):
//! - the person (provider, `sub`) is connected to an account: that account signs in (its own
//!   second factor asked for, if it has one: a provider's `amr` is its own claim about its
//!   own sign-in, and is not taken in place of the account's code);
//! - unknown, the provider confirmed the address (`email_verified`), and no account has it:
//!   a new account, verified, without a password (a reset sets one), connected;
//! - unknown, and an account has the address: nothing is created or connected (the owner
//!   signs in as before and connects the provider from the account page), unless the
//!   operator trusts this provider's addresses (`trust_email`): then the account is
//!   connected and signs in;
//! - unknown, and no confirmed address: nothing is created.

use db::{AuditEvent, Connected, DbError, Email, NewOidcIdentity, NewUser};
use db::{OidcLogin, User, UserChanges, UserId, NO_PASSWORD};
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::error::AuthError;
use crate::login::Verified;
use crate::oidc::OidcClaims;
use crate::oidc_settings::OIDC_LOGIN_SECS;
use crate::service::Auth;
use crate::sessions::ClientInfo;
use crate::token::{digest, SessionToken};

/// What a sign-in through a provider is for.
#[derive(Debug, Clone, Copy)]
pub enum OidcIntent<'a> {
    /// Signing in (or up); afterwards the person goes to `return_to`, as the caller checked it.
    SignIn {
        /// Where to go afterwards (the caller checks it again when it is used).
        return_to: Option<&'a str>,
    },
    /// Connecting the provider to the account of a session.
    Connect {
        /// The account.
        user_id: UserId,
        /// The public id of its session that asked.
        session_id: &'a str,
    },
}

/// A sign-in through a provider that came back: what [`Auth::take_oidc`] took. Holds the
/// state and the visitor secret only in memory.
pub struct OidcPending {
    login: OidcLogin,
    verifier: String,
    nonce: String,
}

impl std::fmt::Debug for OidcPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcPending")
            .field("provider", &self.login.provider)
            .field("user_id", &self.login.user_id)
            .finish_non_exhaustive()
    }
}

impl OidcPending {
    /// The provider's id.
    pub fn provider(&self) -> &str {
        &self.login.provider
    }

    /// Where the person goes afterwards, as given to [`Auth::begin_oidc`].
    pub fn return_to(&self) -> Option<&str> {
        self.login.return_to.as_deref()
    }

    /// For a connection: the account and the public id of its session that asked.
    pub fn connecting(&self) -> Option<(UserId, &str)> {
        Some((self.login.user_id?, self.login.session_id.as_deref()?))
    }
}

/// How a sign-in through a provider ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum OidcOutcome {
    /// A session started for the account (made now when `created`).
    SignedIn {
        /// The account.
        user: Box<User>,
        /// Its new session.
        token: SessionToken,
        /// Whether the account was made by this sign-in.
        created: bool,
    },
    /// The provider was connected to the account that asked.
    Connected {
        /// The account.
        user_id: UserId,
    },
}

/// Adds a key to a JSON object.
trait With {
    fn with(self, key: &str, value: impl Into<serde_json::Value>) -> Self;
}

impl With for serde_json::Value {
    fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let Some(object) = self.as_object_mut() {
            object.insert(key.to_owned(), value.into());
        }
        self
    }
}

fn derived(label: &str, visitor: &str, state: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(label.as_bytes());
    hash.update(b"\0");
    hash.update(visitor.as_bytes());
    hash.update(b"\0");
    hash.update(state.as_bytes());
    hex::encode(hash.finalize())
}

fn visitor_digest(visitor: &str) -> String {
    derived("authd-oidc-visitor-v1", visitor, "")
}

fn new_state() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|_| AuthError::Config("the system's random source failed".into()))?;
    Ok(hex::encode(bytes))
}

impl Auth {
    /// Begins a sign-in (or a connection) through provider `id` for the browser whose secret
    /// visitor cookie is `visitor` (at least 32 characters): stores the row (10 minutes) and
    /// answers the provider's authorization URL to send the browser to. The provider must be
    /// ready (see [`Auth::prepare_oidc`]).
    ///
    /// Errors: `UnknownOidcProvider`; `OidcUnavailable`; `Storage`.
    pub fn begin_oidc(
        &self,
        id: &str,
        visitor: &str,
        intent: OidcIntent<'_>,
    ) -> Result<String, AuthError> {
        let providers = self.providers()?;
        providers.config(id)?;
        if visitor.len() < 32 {
            return Err(AuthError::Config(
                "a visitor secret is at least 32 characters".into(),
            ));
        }
        let state = new_state()?;
        let url = providers.authorize_url(
            id,
            &state,
            &derived("authd-oidc-nonce-v1", visitor, &state),
            &derived("authd-oidc-pkce-v1", visitor, &state),
        )?;
        let (user_id, session_id, return_to) = match intent {
            OidcIntent::SignIn { return_to } => (None, None, return_to.map(str::to_owned)),
            OidcIntent::Connect {
                user_id,
                session_id,
            } => (Some(user_id), Some(session_id.to_owned()), None),
        };
        let now = self.now();
        self.db.begin_oidc_login(
            &OidcLogin {
                state_digest: digest(&state),
                provider: id.to_owned(),
                visitor_digest: visitor_digest(visitor),
                user_id,
                session_id,
                return_to,
                expires_at: now.saturating_add(OIDC_LOGIN_SECS),
            },
            now,
        )?;
        tracing::info!(target: "authd::auth::oidc_login", event = "oidc_started", provider = %id, connect = user_id.is_some(), "sign-in through a provider begun");
        Ok(url)
    }

    /// Takes the sign-in begun with `state` through provider `id` by the browser whose visitor
    /// cookie is `visitor`: once, on whichever instance. Take it before looking at the
    /// callback's other parameters, so that an error from the provider also ends it.
    ///
    /// Errors: `UnknownOidcState` for a state unknown, used, expired, of another provider or
    /// begun by another browser; `UnknownOidcProvider`; `Storage`.
    pub fn take_oidc(
        &self,
        id: &str,
        state: &str,
        visitor: &str,
    ) -> Result<OidcPending, AuthError> {
        self.providers()?.config(id)?;
        let taken =
            self.db
                .take_oidc_login(&digest(state), id, &visitor_digest(visitor), self.now())?;
        let Some(login) = taken else {
            tracing::info!(target: "authd::auth::oidc_login", event = "oidc_refused", provider = %id, reason = "state", "unknown, used, expired or foreign state");
            return Err(AuthError::UnknownOidcState);
        };
        Ok(OidcPending {
            login,
            verifier: derived("authd-oidc-pkce-v1", visitor, state),
            nonce: derived("authd-oidc-nonce-v1", visitor, state),
        })
    }

    /// Exchanges the callback's `code` for the provider's ID token and verifies it (see
    /// `oidc.rs`): network, so async; no database.
    ///
    /// Errors: `OidcUnavailable`; `OidcRefused(why)`.
    pub async fn verify_oidc(
        &self,
        pending: &OidcPending,
        code: &str,
    ) -> Result<OidcClaims, AuthError> {
        let claims = self
            .providers()?
            .exchange(pending.provider(), code, &pending.verifier, &pending.nonce)
            .await?;
        if claims.subject.is_empty() || claims.subject.len() > 255 {
            return Err(AuthError::OidcRefused("subject"));
        }
        Ok(claims)
    }

    /// Who the person of `claims` is here, by the linking rules (see the module), and what
    /// follows: a session for `client`, or the connection asked for. For a connection, the
    /// caller has checked that the request comes with the session named in the row.
    ///
    /// Errors: `SecondFactorRequired(token)` for an account with two-factor sign-in (the
    /// sign-in goes on as a password's does); `OidcEmailTaken`; `OidcNoVerifiedEmail`;
    /// `InvalidEmail`; `OidcOtherAccount`, `OidcProviderInUse` (connections);
    /// `AccountDisabled`; `EmailNotVerified`; `Storage`.
    #[instrument(target = "authd::auth::oidc_login", skip_all, fields(provider = %pending.provider(), user_id))]
    pub fn finish_oidc(
        &self,
        pending: OidcPending,
        claims: OidcClaims,
        client: &ClientInfo,
    ) -> Result<OidcOutcome, AuthError> {
        let provider = self.providers()?.config(pending.provider())?.clone();
        let id = provider.id.as_str();
        let email = claims.email.as_deref().filter(|_| claims.email_verified);
        if let Some((user_id, _)) = pending.connecting() {
            return self.connect_identity(user_id, id, &claims);
        }
        if let Some(identity) = self.db.find_oidc_identity(id, &claims.subject)? {
            let user = self
                .find_user_by_id(identity.user_id)?
                .ok_or(AuthError::UnknownUser)?;
            return self.sign_in_through(user, id, &claims, false, client);
        }
        let Some(email) = email else {
            tracing::info!(target: "authd::auth::oidc_login",
                event = "oidc_refused",
                reason = "no_verified_email",
                "the provider confirmed no address"
            );
            return Err(AuthError::OidcNoVerifiedEmail);
        };
        if let Some(user) = self.find_user_by_email(email)? {
            if !provider.trust_email {
                self.record(
                    AuditEvent::OidcSignInRefused,
                    Some(user.id),
                    self.provider_detail(id),
                )?;
                tracing::info!(target: "authd::auth::oidc_login",
                    event = "oidc_refused",
                    reason = "email_taken",
                    user_id = user.id,
                    "an account has the provider's address: not connected"
                );
                return Err(AuthError::OidcEmailTaken);
            }
            return match self.connect_identity(user.id, id, &claims)? {
                OidcOutcome::Connected { .. } => {
                    self.sign_in_through(user, id, &claims, false, client)
                }
                other => Ok(other),
            };
        }
        let address = Email::parse_new(email)?;
        let now = self.now();
        let new = NewUser {
            email: address.as_str(),
            hashed_password: NO_PASSWORD,
            email_verified_at: Some(now),
            verify_token: None,
            verify_expires_at: None,
        };
        let identity = NewOidcIdentity {
            provider: id,
            subject: &claims.subject,
            user_id: 0,
            email: Some(address.as_str()),
            created_at: now,
            last_used_at: Some(now),
        };
        let db = self
            .audited(
                AuditEvent::Registered,
                None,
                self.provider_detail(id).with("method", "oidc"),
            )
            .audited(self.audit_event(AuditEvent::OidcConnected, None, self.provider_detail(id)));
        let user = match db.add_oidc_user(&new, &identity, now) {
            Ok(user) => user,
            Err(DbError::DuplicateEmail) => {
                // Another registration of the address came first.
                return Err(AuthError::OidcEmailTaken);
            }
            Err(DbError::Conflict) => {
                // Another first sign-in of the same person came first: that account.
                let identity = self
                    .db
                    .find_oidc_identity(id, &claims.subject)?
                    .ok_or(AuthError::Storage(DbError::Conflict))?;
                let user = self
                    .find_user_by_id(identity.user_id)?
                    .ok_or(AuthError::UnknownUser)?;
                return self.sign_in_through(user, id, &claims, false, client);
            }
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("user_id", user.id);
        tracing::info!(target: "authd::auth::oidc_login",
            event = "registered",
            method = "oidc",
            "user registered through a provider"
        );
        self.sign_in_through(user, id, &claims, true, client)
    }

    /// Starts a session for `user`, signed in through provider `id`: the rules of every
    /// sign-in (disabled, unconfirmed address, second factor) apply.
    fn sign_in_through(
        &self,
        user: User,
        id: &str,
        claims: &OidcClaims,
        created: bool,
        client: &ClientInfo,
    ) -> Result<OidcOutcome, AuthError> {
        tracing::Span::current().record("user_id", user.id);
        self.refuse_disabled(&user, "oidc")?;
        if self.config.require_verified_email && user.email_verified_at.is_none() {
            tracing::info!(target: "authd::auth::oidc_login",
                event = "login_unverified",
                method = "oidc",
                "login refused: email not verified"
            );
            return Err(AuthError::EmailNotVerified);
        }
        if self.confirmed_totp(user.id)?.is_some() {
            return Err(self.ask_second_factor(Verified {
                user,
                counted: None,
                rehash: false,
            })?);
        }
        let signed_in = self.audited(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            self.provider_detail(id)
                .with("method", "oidc")
                .with("amr", claims.amr.clone()),
        );
        let (user, token) =
            self.start_session(&signed_in, &user, UserChanges::default(), None, client)?;
        self.db
            .touch_oidc_identity(id, &claims.subject, user.id, self.now())?;
        tracing::info!(target: "authd::auth::oidc_login", event = "login_ok", method = "oidc", provider = %id, "logged in");
        Ok(OidcOutcome::SignedIn {
            user: Box::new(user),
            token,
            created,
        })
    }

    fn connect_identity(
        &self,
        user_id: UserId,
        id: &str,
        claims: &OidcClaims,
    ) -> Result<OidcOutcome, AuthError> {
        let email = claims.email.as_deref().filter(|_| claims.email_verified);
        let connecting = self.audited(
            AuditEvent::OidcConnected,
            Some(user_id),
            self.provider_detail(id),
        );
        let connected = connecting.connect_oidc(&NewOidcIdentity {
            provider: id,
            subject: &claims.subject,
            user_id,
            email,
            created_at: self.now(),
            last_used_at: None,
        })?;
        match connected {
            Connected::Connected | Connected::AlreadyConnected => {
                tracing::info!(target: "authd::auth::oidc_login", event = "oidc_connected", provider = %id, user_id, "provider connected");
                Ok(OidcOutcome::Connected { user_id })
            }
            Connected::OtherAccount => Err(AuthError::OidcOtherAccount),
            Connected::ProviderInUse => Err(AuthError::OidcProviderInUse),
            Connected::NoSuchUser => Err(AuthError::UnknownUser),
        }
    }
}
