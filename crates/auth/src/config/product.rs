//! `AuthConfig::product()`: the library twin of the server's `--preset product`.

use super::{AuthConfig, MailConfig};
use crate::password::policy::PasswordPolicy;

/// Sessions one account may hold at once under [`AuthConfig::product`].
const PRODUCT_SESSIONS_PER_USER: u32 = 10;

impl AuthConfig {
    /// What a new public product wants, as the server's `--preset product` sets it on the auth
    /// side (`web`'s `WebOptions::product()` is the twin for the HTTP side): up to 10 sessions
    /// per account, the NIST password policy ([`PasswordPolicy::nist`]), and reset tokens that
    /// travel only by mail (`reset_token_in_answer` off). Everything else is
    /// [`AuthConfig::default`]'s.
    ///
    /// Without mail, as here, addresses are not confirmed: `require_verified_email` needs a
    /// mailer. The preset turns it on when mail is configured (`--smtp-url`); here that is
    /// [`AuthConfig::product_with_mail`], so that setting a mailer later with `with_mail` never
    /// changes who may log in behind your back.
    ///
    /// The server also adds the site's names (`--public-url`'s host, `--site-name`) to the
    /// words a password may not contain: do the same with
    /// `config.password_policy = config.password_policy.with_site_url(url)`.
    pub fn product() -> Self {
        AuthConfig {
            max_sessions_per_user: PRODUCT_SESSIONS_PER_USER,
            password_policy: PasswordPolicy::nist(),
            reset_token_in_answer: false,
            ..AuthConfig::default()
        }
    }

    /// [`AuthConfig::product`] with mail through `mail`, and so, as the server's
    /// `--preset product` with `--smtp-url`, new accounts must confirm their address before
    /// they can log in (`require_verified_email`).
    pub fn product_with_mail(mail: MailConfig) -> Self {
        AuthConfig::product()
            .with_mail(Some(mail))
            .with_require_verified_email(true)
    }
}
