//! What the operator configures for sign-in through outside OpenID Connect providers: each
//! provider ([`OidcProvider`]) and where their callbacks come back ([`OidcConfig`]), every
//! value checked when it is made. What authd learns of each provider at run time is
//! `oidc.rs`'s.

/// How long a sign-in through a provider may take, from the redirect to the callback.
pub const OIDC_LOGIN_SECS: i64 = 600;
/// Most providers one server offers.
pub const MAX_OIDC_PROVIDERS: usize = 16;
/// Longest provider id (`[a-z0-9_-]`, used in URLs).
pub const MAX_OIDC_ID_CHARS: usize = 32;
/// Longest provider name (on the button: "Continue with NAME").
pub const MAX_OIDC_NAME_CHARS: usize = 40;

/// One OpenID Connect provider people may sign in through. Build with [`OidcProvider::new`],
/// which checks each value.
#[derive(Clone)]
#[non_exhaustive]
pub struct OidcProvider {
    /// Short id, in the URLs (`/oidc/{id}/start`): 1 to 32 of `a-z`, `0-9`, `-`, `_`.
    pub id: String,
    /// What people see: "Continue with NAME".
    pub name: String,
    /// The issuer URL; its discovery document is `{issuer}/.well-known/openid-configuration`.
    /// `https://`, or `http://` on a loopback host only (`localhost`, `127.0.0.1`, `[::1]`).
    pub issuer: String,
    /// The client id the provider gave authd.
    pub client_id: String,
    /// The client secret the provider gave authd; `None` for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// Whether an unknown person whose address (confirmed by this provider) has an account
    /// here is connected to that account and signed in. Off by default: a provider that lets
    /// people claim any address would hand over accounts. Turn it on only for a provider that
    /// verifies addresses it asserts (your own Keycloak, Google for gmail.com).
    pub trust_email: bool,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| ".."))
            .field("trust_email", &self.trust_email)
            .finish()
    }
}

/// A provider setting that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OidcSettingsError(pub String);

fn refuse(why: impl Into<String>) -> OidcSettingsError {
    OidcSettingsError(why.into())
}

fn printable(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

impl OidcProvider {
    /// A provider, each value checked (see the fields). `trust_email` starts off.
    ///
    /// Errors: which value is wrong, and why.
    pub fn new(
        id: &str,
        name: &str,
        issuer: &str,
        client_id: &str,
        client_secret: Option<String>,
    ) -> Result<Self, OidcSettingsError> {
        let id_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if id.is_empty() || id.len() > MAX_OIDC_ID_CHARS || !id.chars().all(id_ok) {
            return Err(refuse(format!(
                "id must be 1 to {MAX_OIDC_ID_CHARS} of a-z, 0-9, - and _ (got {id:?})"
            )));
        }
        let name_chars = name.chars().count();
        if name.trim().is_empty() || name_chars > MAX_OIDC_NAME_CHARS || !printable(name) {
            return Err(refuse(format!(
                "name must be 1 to {MAX_OIDC_NAME_CHARS} printable characters"
            )));
        }
        check_issuer(issuer)?;
        if client_id.is_empty() || client_id.len() > 256 || !printable(client_id) {
            return Err(refuse("client_id must be 1 to 256 printable characters"));
        }
        if let Some(secret) = &client_secret {
            if secret.is_empty() || secret.len() > 1024 || !printable(secret) {
                return Err(refuse(
                    "the client secret must be 1 to 1024 printable characters",
                ));
            }
        }
        Ok(OidcProvider {
            id: id.to_owned(),
            name: name.trim().to_owned(),
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            trust_email: false,
        })
    }

    /// With [`OidcProvider::trust_email`] set.
    pub fn with_trust_email(mut self, trust: bool) -> Self {
        self.trust_email = trust;
        self
    }
}

/// `https://`, or `http://` to a loopback host; no query, fragment or credentials.
fn check_issuer(issuer: &str) -> Result<(), OidcSettingsError> {
    let url = url::Url::parse(issuer)
        .map_err(|e| refuse(format!("issuer is not a URL ({e}): {issuer:?}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(refuse(format!(
                "issuer must be an https:// URL (http:// only on localhost): {issuer:?}"
            )))
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(refuse(format!(
            "issuer must have no query, fragment or user: {issuer:?}"
        )));
    }
    Ok(())
}

/// Sign-in through outside OpenID Connect providers: which providers, and the public URL their
/// callbacks come back to (`{public_url}/oidc/{id}/callback`, the redirect URI to register at
/// each provider).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OidcConfig {
    /// The site's public URL, without a trailing `/`.
    pub public_url: String,
    /// The providers, in the order their buttons appear.
    pub providers: Vec<OidcProvider>,
}

impl OidcConfig {
    /// Providers behind `public_url`.
    ///
    /// Errors: a public URL that is not `http(s)://` or ends with `/`; no provider, more than
    /// [`MAX_OIDC_PROVIDERS`], or two with one id.
    pub fn new(public_url: &str, providers: Vec<OidcProvider>) -> Result<Self, OidcSettingsError> {
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.ends_with('/')
            || url::Url::parse(public_url).is_err()
        {
            return Err(refuse(
                "the public URL must start with http:// or https:// and not end with /",
            ));
        }
        if providers.is_empty() || providers.len() > MAX_OIDC_PROVIDERS {
            return Err(refuse(format!(
                "between 1 and {MAX_OIDC_PROVIDERS} providers"
            )));
        }
        for (i, provider) in providers.iter().enumerate() {
            if providers[..i].iter().any(|p| p.id == provider.id) {
                return Err(refuse(format!(
                    "two providers have the id {:?}",
                    provider.id
                )));
            }
        }
        Ok(OidcConfig {
            public_url: public_url.to_owned(),
            providers,
        })
    }

    /// The redirect URI of provider `id`: `{public_url}/oidc/{id}/callback`.
    pub fn redirect_uri(&self, id: &str) -> String {
        format!("{}/oidc/{id}/callback", self.public_url)
    }
}
