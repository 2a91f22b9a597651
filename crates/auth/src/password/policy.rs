//! Which new passwords are acceptable. `classic` (the default) asks only for a configured
//! length; `nist` follows NIST SP 800-63B rev. 4 (§3.1.1.2): at least 15 characters for a
//! password that is the account's only factor (8 with a second factor), not a common password,
//! and not built on the account's address or the site's name.

use super::common;
use crate::error::AuthError;

/// A word of the context (the part of an address before the `@`, a site's name) this long or
/// longer is refused anywhere in a password; a shorter one only as the whole password, so that
/// a name like `jo` does not refuse every password with those two letters in a row.
const CONTAINED_FROM: usize = 4;

/// The rules a new password (at registration, change and reset) must pass, on its normal form
/// (NFKC, see [`Auth::log_in`](crate::Auth::log_in)), besides the fixed ones (no control
/// characters, at most 72 bytes). Existing passwords are never checked again: an account whose
/// password predates a stricter policy still signs in.
///
/// Start from [`PasswordPolicy::classic`] or [`PasswordPolicy::nist`]; fields may be added in a
/// minor release.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordPolicy {
    /// Shortest password, in characters (Unicode scalar values), for an account whose password
    /// is its only factor.
    pub min_length: usize,
    /// Shortest password, in characters, for an account with a second factor.
    pub min_length_with_second_factor: usize,
    /// Refuse the 30,000 common passwords compiled in (an exact match on the lower-cased
    /// password).
    pub refuse_common: bool,
    /// Refuse a password that contains the account's address, or the part before its `@`
    /// (anywhere when that part has 4 characters or more, else as the whole password); case
    /// does not count.
    pub refuse_email: bool,
    /// The site's names, lower-case: a password that contains one (4 characters or more; a
    /// shorter one: is it) is refused, whatever its case. Empty: no such rule.
    pub site_names: Vec<String>,
}

impl Default for PasswordPolicy {
    /// [`PasswordPolicy::classic`].
    fn default() -> Self {
        PasswordPolicy::classic()
    }
}

/// Whose new password is checked: what the policy measures it against.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PasswordOwner<'a> {
    /// The account's address (at registration: the address being registered); `None` when
    /// there is no account to compare with.
    pub(crate) email: Option<&'a str>,
    /// Whether the account signs in with a second factor as well: a shorter password is
    /// acceptable then (see [`PasswordPolicy::min_length`]).
    pub(crate) second_factor: bool,
}

impl PasswordPolicy {
    /// The classic contract: any password of at least 1 character; nothing refused for what it
    /// is.
    pub fn classic() -> Self {
        PasswordPolicy {
            min_length: 1,
            min_length_with_second_factor: 1,
            refuse_common: false,
            refuse_email: false,
            site_names: Vec::new(),
        }
    }

    /// NIST SP 800-63B rev. 4: at least 15 characters when the password is the only factor, 8
    /// when the account has a second factor; not a common password; not containing the
    /// account's address or its part before the `@`, nor `authd` (add the site's own names
    /// with [`PasswordPolicy::with_site_url`]).
    pub fn nist() -> Self {
        PasswordPolicy {
            min_length: 15,
            min_length_with_second_factor: 8,
            refuse_common: true,
            refuse_email: true,
            site_names: vec!["authd".to_owned()],
        }
    }

    /// This policy with `min` characters at least, for every account (with a second factor or
    /// not): a minimum an operator states replaces both of a preset's.
    pub fn with_min_length(mut self, min: usize) -> Self {
        self.min_length = min;
        self.min_length_with_second_factor = min;
        self
    }

    /// This policy refusing the common passwords, or not.
    pub fn with_refuse_common(mut self, refuse: bool) -> Self {
        self.refuse_common = refuse;
        self
    }

    /// This policy also refusing the names in the host of `url` (`https://auth.example.com` →
    /// `auth` and `example`): each label but the last (the top-level domain), or the only one
    /// (`localhost`); none for an IP address.
    pub fn with_site_url(mut self, url: &str) -> Self {
        for name in site_names_of(url) {
            if !self.site_names.contains(&name) {
                self.site_names.push(name);
            }
        }
        self
    }

    /// The shortest acceptable password, in characters, for an account that has a second
    /// factor (`true`) or whose password is its only factor (`false`).
    pub fn min_length(&self, second_factor: bool) -> usize {
        if second_factor {
            self.min_length_with_second_factor
        } else {
            self.min_length
        }
    }

    /// Checks `password` (in its normal form) as the new password of `owner`.
    ///
    /// Errors, the first rule broken: `PasswordTooShort`, `PasswordTooCommon`,
    /// `PasswordContainsEmail`, `PasswordContainsSiteName`.
    pub(crate) fn check(&self, password: &str, owner: PasswordOwner<'_>) -> Result<(), AuthError> {
        let min = self.min_length(owner.second_factor);
        if password.chars().count() < min {
            return Err(AuthError::PasswordTooShort(min));
        }
        if self.refuse_common && common::is_common(password) {
            return Err(AuthError::PasswordTooCommon);
        }
        if !self.refuse_email && self.site_names.is_empty() {
            return Ok(());
        }
        let password = password.to_lowercase();
        if let Some(email) = owner.email.filter(|_| self.refuse_email) {
            let email = email.to_lowercase();
            let local = email
                .rsplit_once('@')
                .map_or(email.as_str(), |(local, _)| local);
            if password.contains(&email) || has_word(&password, local) {
                return Err(AuthError::PasswordContainsEmail);
            }
        }
        if self.site_names.iter().any(|name| has_word(&password, name)) {
            return Err(AuthError::PasswordContainsSiteName);
        }
        Ok(())
    }
}

/// Whether `password` (lower-cased) is `word`, or contains it when it is long enough to mean
/// something there ([`CONTAINED_FROM`]).
fn has_word(password: &str, word: &str) -> bool {
    !word.is_empty()
        && (password == word || (word.chars().count() >= CONTAINED_FROM && password.contains(word)))
}

/// The names a site's URL gives (see [`PasswordPolicy::with_site_url`]), lower-case.
fn site_names_of(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.starts_with('[') {
        return Vec::new(); // an IPv6 address
    }
    let host = host.split(':').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').filter(|label| !label.is_empty()).collect();
    if labels
        .iter()
        .all(|label| label.chars().all(|c| c.is_ascii_digit()))
    {
        return Vec::new(); // an IPv4 address, or no host
    }
    let named = match labels.split_last() {
        Some((_, [])) | None => &labels[..],
        Some((_, before)) => before,
    };
    named.iter().map(|label| label.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(email: &str) -> PasswordOwner<'_> {
        PasswordOwner {
            email: Some(email),
            second_factor: false,
        }
    }

    #[test]
    fn classic_accepts_any_password_of_one_character_or_more() {
        let classic = PasswordPolicy::classic();
        assert_eq!(classic, PasswordPolicy::default());
        for password in ["p", "pw", "password", "123456", "ada@example.com", "authd"] {
            assert!(classic.check(password, owner("ada@example.com")).is_ok());
        }
        assert!(matches!(
            classic.check("", PasswordOwner::default()),
            Err(AuthError::PasswordTooShort(1))
        ));
    }

    #[test]
    fn nist_asks_for_15_characters_alone_and_8_with_a_second_factor() {
        let nist = PasswordPolicy::nist();
        assert_eq!(nist.min_length(false), 15);
        assert_eq!(nist.min_length(true), 8);
        assert!(nist.refuse_common && nist.refuse_email);
        assert_eq!(nist.site_names, ["authd"]);
        let alone = PasswordOwner::default();
        assert!(matches!(
            nist.check("fourteen chars", alone),
            Err(AuthError::PasswordTooShort(15))
        ));
        assert!(nist.check("fifteen chars!!", alone).is_ok());
        let with_second_factor = PasswordOwner {
            email: None,
            second_factor: true,
        };
        assert!(matches!(
            nist.check("seven c", with_second_factor),
            Err(AuthError::PasswordTooShort(8))
        ));
        assert!(nist.check("eight ch", with_second_factor).is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let policy = PasswordPolicy::classic().with_min_length(4);
        // 4 characters, 8 bytes; 3 characters of 4 bytes each.
        assert!(policy.check("éééé", PasswordOwner::default()).is_ok());
        assert!(matches!(
            policy.check("🔑🔑🔑", PasswordOwner::default()),
            Err(AuthError::PasswordTooShort(4))
        ));
    }

    #[test]
    fn a_common_password_is_refused_in_any_case_when_asked() {
        let policy = PasswordPolicy::classic().with_refuse_common(true);
        for password in ["password", "123456", "qwerty", "QWERTY", "Password"] {
            assert!(
                matches!(
                    policy.check(password, PasswordOwner::default()),
                    Err(AuthError::PasswordTooCommon)
                ),
                "{password}"
            );
        }
        assert!(policy
            .check("password9x!", PasswordOwner::default())
            .is_ok());
        // A long one of the list is too common under nist too.
        assert!(matches!(
            PasswordPolicy::nist().check("1qaz2wsx3edc4rfv", PasswordOwner::default()),
            Err(AuthError::PasswordTooCommon)
        ));
    }

    #[test]
    fn the_address_and_its_local_part_are_refused_in_any_case() {
        let nist = PasswordPolicy::nist();
        let ada = owner("ada.lovelace@example.com");
        for password in [
            "ada.lovelace@example.com",
            "my ADA.Lovelace@Example.com!",
            "Ada.Lovelace is my hero",
            "1234 ada.lovelace 5678",
        ] {
            assert!(
                matches!(
                    nist.check(password, ada),
                    Err(AuthError::PasswordContainsEmail)
                ),
                "{password}"
            );
        }
        assert!(nist.check("ada lovelace the first", ada).is_ok());
        // A local part under 4 characters counts only as the whole password.
        let short = PasswordPolicy::classic().with_min_length(1);
        let short = PasswordPolicy {
            refuse_email: true,
            ..short
        };
        assert!(matches!(
            short.check("JO", owner("jo@example.com")),
            Err(AuthError::PasswordContainsEmail)
        ));
        assert!(short
            .check("enjoy the journey", owner("jo@example.com"))
            .is_ok());
        // Without an account to compare with, the rule has nothing to refuse.
        assert!(nist
            .check("ada.lovelace@example.com", PasswordOwner::default())
            .is_ok());
    }

    #[test]
    fn the_sites_names_are_refused_in_any_case() {
        let nist = PasswordPolicy::nist().with_site_url("https://login.Example-Bank.co.uk:8443/x");
        assert_eq!(nist.site_names, ["authd", "login", "example-bank", "co"]);
        for password in [
            "authdauthdauthd",
            "My AUTHD password 1",
            "example-bank forever",
        ] {
            assert!(
                matches!(
                    nist.check(password, PasswordOwner::default()),
                    Err(AuthError::PasswordContainsSiteName)
                ),
                "{password}"
            );
        }
        // `co` is too short to be refused inside a password.
        assert!(nist
            .check("cobalt coloured cones", PasswordOwner::default())
            .is_ok());
    }

    #[test]
    fn a_site_url_gives_its_hosts_labels_but_the_top_level_one() {
        assert_eq!(
            site_names_of("https://auth.example.com"),
            ["auth", "example"]
        );
        assert_eq!(site_names_of("http://localhost:5000"), ["localhost"]);
        assert_eq!(site_names_of("https://example.org/auth"), ["example"]);
        assert!(site_names_of("http://127.0.0.1:5000").is_empty());
        assert!(site_names_of("http://[::1]:5000").is_empty());
        // Given twice, a name is kept once.
        let policy = PasswordPolicy::nist().with_site_url("https://authd.example");
        assert_eq!(policy.site_names, ["authd"]);
    }

    #[test]
    fn a_stated_minimum_replaces_both_of_the_presets() {
        let policy = PasswordPolicy::nist().with_min_length(20);
        assert_eq!(
            (policy.min_length(false), policy.min_length(true)),
            (20, 20)
        );
        assert!(policy.refuse_common);
        let policy = PasswordPolicy::nist().with_refuse_common(false);
        assert!(!policy.refuse_common);
        assert_eq!(policy.min_length(false), 15);
    }
}
