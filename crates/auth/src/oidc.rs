//! Outside OpenID Connect providers at run time: what authd learns of each (its discovery
//! document and keys), fetched when the server starts and retried in the background for a
//! provider that did not answer, without holding up the others; and the exchange of a
//! callback's code for a verified ID token. The settings are `oidc_settings.rs`'s; the
//! sign-in itself is `oidc_login.rs`'s.
//!
//! Every exchange with a provider goes through `openidconnect` (discovery, the authorization
//! URL with PKCE, the code exchange, the ID token's signature, `iss`, `aud`, `exp` and `nonce`),
//! over one reqwest client on rustls with the system's root certificates, following no
//! redirect.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};

use crate::error::AuthError;
use crate::oidc_settings::{OidcConfig, OidcProvider};

/// How long one request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// A provider not discovered yet is tried again at most this often (a sign-in that finds it
/// missing tries at once when the last try is older).
pub const OIDC_RETRY_SECS: u64 = 5;
/// The provider's keys are fetched again, when an ID token names a key they lack, at most
/// this often.
const REFRESH_KEYS_EVERY: Duration = Duration::from_secs(60);

/// A provider as `authd check` and the pages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OidcProviderStatus {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether its discovery document and keys are in hand (sign-ins can begin).
    pub ready: bool,
    /// Why not, after the latest try.
    pub error: Option<String>,
}

/// What a provider's ID token says of the person, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OidcClaims {
    /// `sub`: the person at the provider, stable.
    pub subject: String,
    /// `email`, when given.
    pub email: Option<String>,
    /// `email_verified`: whether the provider says it confirmed the address.
    pub email_verified: bool,
    /// `amr`: how the provider says the person authenticated (recorded, not relied on).
    pub amr: Vec<String>,
}

pub(crate) type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider's discovery document and keys, as fetched at `fetched`.
pub(crate) struct Discovered {
    client: Client,
    fetched: Instant,
}

struct Entry {
    config: OidcProvider,
    redirect: RedirectUrl,
    discovered: RwLock<Option<Arc<Discovered>>>,
    last_error: Mutex<Option<String>>,
    last_try: Mutex<Option<Instant>>,
    /// Held while a fetch runs: a sign-in that needs the provider waits for the fetch under
    /// way (the one the server starts with, say) rather than failing beside it.
    fetching: tokio::sync::Mutex<()>,
}

/// The configured providers and what is known of each.
pub(crate) struct Providers {
    http: reqwest::Client,
    entries: Vec<Entry>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Providers {
    pub(crate) fn new(config: &OidcConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            // Following redirects would open the client up to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Config(format!("the providers' HTTP client: {e}")))?;
        let entries = config
            .providers
            .iter()
            .map(|provider| {
                let redirect = RedirectUrl::new(config.redirect_uri(&provider.id))
                    .map_err(|e| AuthError::Config(format!("redirect URI: {e}")))?;
                Ok(Entry {
                    config: provider.clone(),
                    redirect,
                    discovered: RwLock::new(None),
                    last_error: Mutex::new(None),
                    last_try: Mutex::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                })
            })
            .collect::<Result<Vec<_>, AuthError>>()?;
        Ok(Providers { http, entries })
    }

    fn entry(&self, id: &str) -> Result<&Entry, AuthError> {
        self.entries
            .iter()
            .find(|e| e.config.id == id)
            .ok_or(AuthError::UnknownOidcProvider)
    }

    pub(crate) fn config(&self, id: &str) -> Result<&OidcProvider, AuthError> {
        Ok(&self.entry(id)?.config)
    }

    fn discovered(entry: &Entry) -> Option<Arc<Discovered>> {
        entry
            .discovered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn status(&self) -> Vec<OidcProviderStatus> {
        self.entries
            .iter()
            .map(|e| OidcProviderStatus {
                id: e.config.id.clone(),
                name: e.config.name.clone(),
                ready: Self::discovered(e).is_some(),
                error: lock(&e.last_error).clone(),
            })
            .collect()
    }

    /// Fetches the discovery document and keys of `entry`, and keeps them; unless `again`,
    /// answers those in hand when a fetch under way brought them.
    async fn discover(&self, entry: &Entry, again: bool) -> Result<Arc<Discovered>, AuthError> {
        let _fetching = entry.fetching.lock().await;
        if let Some(discovered) = Self::discovered(entry).filter(|_| !again) {
            return Ok(discovered);
        }
        *lock(&entry.last_try) = Some(Instant::now());
        let fetched = async {
            let issuer = IssuerUrl::new(entry.config.issuer.clone()).map_err(|e| e.to_string())?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| describe(&e))?;
            if metadata.token_endpoint().is_none() {
                return Err("its discovery document names no token endpoint".to_owned());
            }
            let client = CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(entry.config.client_id.clone()),
                entry.config.client_secret.clone().map(ClientSecret::new),
            )
            .set_redirect_uri(entry.redirect.clone());
            Ok::<_, String>(client)
        }
        .await;
        match fetched {
            Ok(client) => {
                let discovered = Arc::new(Discovered {
                    client,
                    fetched: Instant::now(),
                });
                *entry
                    .discovered
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(discovered.clone());
                *lock(&entry.last_error) = None;
                tracing::info!(target: "authd::auth::oidc", event = "oidc_provider_ready", provider = %entry.config.id, "provider discovered");
                Ok(discovered)
            }
            Err(why) => {
                let mut last = lock(&entry.last_error);
                // Once per cause: a provider down for hours is not a line every 5 seconds.
                if last.as_deref() == Some(why.as_str()) {
                    tracing::debug!(target: "authd::auth::oidc", event = "oidc_provider_unavailable", provider = %entry.config.id, error = %why, "provider discovery failed again");
                } else {
                    tracing::warn!(target: "authd::auth::oidc", event = "oidc_provider_unavailable", provider = %entry.config.id, error = %why, "provider discovery failed");
                }
                *last = Some(why);
                Err(AuthError::OidcUnavailable)
            }
        }
    }

    /// The provider's client: the one in hand, or, when there is none and the last try is
    /// older than [`OIDC_RETRY_SECS`], a new try now.
    pub(crate) async fn ready(&self, id: &str) -> Result<Arc<Discovered>, AuthError> {
        let entry = self.entry(id)?;
        if let Some(discovered) = Self::discovered(entry) {
            return Ok(discovered);
        }
        let recent = lock(&entry.last_try)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(OIDC_RETRY_SECS));
        if recent && lock(&entry.last_error).is_some() {
            return Err(AuthError::OidcUnavailable);
        }
        self.discover(entry, false).await
    }

    /// The client in hand, without fetching.
    pub(crate) fn in_hand(&self, id: &str) -> Result<Arc<Discovered>, AuthError> {
        Self::discovered(self.entry(id)?).ok_or(AuthError::OidcUnavailable)
    }

    /// Tries every provider not in hand, all at once (a slow one holds up no other); answers
    /// every provider's status.
    pub(crate) async fn discover_missing(&self) -> Vec<OidcProviderStatus> {
        let missing = self
            .entries
            .iter()
            .filter(|entry| Self::discovered(entry).is_none())
            .map(|entry| self.discover(entry, false));
        futures_util::future::join_all(missing).await;
        self.status()
    }

    /// The provider's authorization URL for a sign-in with `state`, `nonce` and the PKCE
    /// challenge of `verifier`, asking for `openid email profile`.
    pub(crate) fn authorize_url(
        &self,
        id: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, AuthError> {
        let discovered = self.in_hand(id)?;
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let (url, _, _) = discovered
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.to_string())
    }

    /// Exchanges `code` (with the PKCE `verifier`) at the provider's token endpoint and
    /// verifies the ID token it answers: its signature against the provider's keys (fetched
    /// again, at most once a minute, when they lack the token's key), `iss`, `aud` (this
    /// client), `exp`, and `nonce`. An algorithm of `none` is refused.
    ///
    /// Errors: `OidcUnavailable` when the provider cannot be reached; `OidcRefused(why)` for
    /// an answer that is refused (an error from the provider, a bad or missing ID token).
    pub(crate) async fn exchange(
        &self,
        id: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<OidcClaims, AuthError> {
        let entry = self.entry(id)?;
        let discovered = self.in_hand(id)?;
        let request = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| AuthError::OidcRefused("no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        let response = request.request_async(&self.http).await.map_err(|e| {
            use openidconnect::RequestTokenError as E;
            match e {
                E::ServerResponse(answer) => {
                    tracing::info!(target: "authd::auth::oidc", event = "oidc_refused", provider = %id, reason = "token_error", error = %answer.error(), "the provider refused the code");
                    AuthError::OidcRefused("token_error")
                }
                E::Request(e) => {
                    tracing::warn!(target: "authd::auth::oidc", event = "oidc_provider_unavailable", provider = %id, error = %describe(&e), "the provider's token endpoint did not answer");
                    AuthError::OidcUnavailable
                }
                other => {
                    tracing::info!(target: "authd::auth::oidc", event = "oidc_refused", provider = %id, reason = "token_answer", error = %describe(&other), "the provider's token answer is not usable");
                    AuthError::OidcRefused("token_answer")
                }
            }
        })?;
        // The access token is not used: authd needs only who the person is.
        let _ = response.access_token();
        let id_token = response
            .id_token()
            .ok_or(AuthError::OidcRefused("no_id_token"))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match verify(&discovered.client, id_token, &nonce) {
            Ok(claims) => claims,
            Err(ClaimsVerificationError::SignatureVerification(_))
                if discovered.fetched.elapsed() > REFRESH_KEYS_EVERY =>
            {
                // A key the provider rotated in since: fetch its keys again, once.
                let fresh = self.discover(entry, true).await?;
                verify(&fresh.client, id_token, &nonce).map_err(|e| refused(id, &e))?
            }
            Err(e) => return Err(refused(id, &e)),
        };
        Ok(claims)
    }
}

/// `token`'s claims, once its signature (with the provider's keys; `alg: none` is refused
/// whatever the provider lists), `iss`, `aud`, `exp` and `nonce` check out.
fn verify(
    client: &Client,
    token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<OidcClaims, ClaimsVerificationError> {
    token
        .claims(&client.id_token_verifier(), nonce)
        .map(claims_of)
}

fn claims_of(claims: &CoreIdTokenClaims) -> OidcClaims {
    OidcClaims {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        amr: claims
            .auth_method_refs()
            .map(|refs| refs.iter().map(|r| r.as_str().to_owned()).collect())
            .unwrap_or_default(),
    }
}

/// The refusal of an ID token, logged with the check that failed (never the token).
fn refused(provider: &str, error: &ClaimsVerificationError) -> AuthError {
    let reason = match error {
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidAudience(_) => "audience",
        ClaimsVerificationError::InvalidIssuer(_) => "issuer",
        ClaimsVerificationError::InvalidNonce(_) => "nonce",
        ClaimsVerificationError::InvalidSubject(_) => "subject",
        ClaimsVerificationError::SignatureVerification(_) => "signature",
        ClaimsVerificationError::Unsupported(_) => "unsupported",
        _ => "claims",
    };
    tracing::info!(target: "authd::auth::oidc", event = "oidc_refused", provider = %provider, reason, error = %error, "the provider's ID token was refused");
    AuthError::OidcRefused(reason)
}

/// An error with its sources, on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::json;

    /// A client for a provider that lists `none` among its ID-token algorithms (as a careless
    /// or hostile one may), with no keys.
    fn client() -> Client {
        let metadata: CoreProviderMetadata = serde_json::from_value(json!({
            "issuer": "https://issuer.example",
            "authorization_endpoint": "https://issuer.example/authorize",
            "token_endpoint": "https://issuer.example/token",
            "jwks_uri": "https://issuer.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "none"],
        }))
        .unwrap();
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("authd".into()),
            Some(ClientSecret::new("s3cret".into())),
        )
        .set_redirect_uri(RedirectUrl::new("https://authd.example/oidc/x/callback".into()).unwrap())
    }

    fn part(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn an_unsigned_id_token_is_refused_even_when_the_provider_lists_none() {
        let claims = part(&json!({
            "iss": "https://issuer.example",
            "aud": "authd",
            "sub": "mallory",
            "email": "victim@example.com",
            "email_verified": true,
            "iat": 1_700_000_000,
            "exp": 4_000_000_000_i64,
            "nonce": "n",
        }));
        let unsigned = format!("{}.{claims}.", part(&json!({"alg": "none"})));
        let token: CoreIdToken = unsigned.parse().unwrap();
        let refused = verify(&client(), &token, &Nonce::new("n".into())).unwrap_err();
        assert!(
            matches!(refused, ClaimsVerificationError::SignatureVerification(_)),
            "{refused:?}"
        );
        // The same claims signed with the client secret (HS256, which a confidential client
        // may be sent) but a wrong one: refused too.
        let header = part(&json!({"alg": "HS256"}));
        let forged = format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        let token: CoreIdToken = forged.parse().unwrap();
        assert!(verify(&client(), &token, &Nonce::new("n".into())).is_err());
    }
}
