//! Where authd is and what it vouches for: the public URL people reach it at, the cookie domain
//! its session cookie is shared over, and the forward-auth rules (who may reach which host
//! behind a reverse proxy). `GET /auth/forward`, `GET /auth/nginx` and `?rd=` on the sign-in
//! pages read them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use auth::User;
use url::Url;

/// The public URL and the cookie domain, checked together: see [`Site::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    public_url: Url,
    cookie_domain: Option<String>,
}

/// A public URL or cookie domain that [`Site::new`] refuses; the text says which and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSite(String);

impl fmt::Display for InvalidSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidSite {}

impl Site {
    /// `public_url`, the address people reach authd's pages at (`https://auth.example.com`,
    /// or with a path: `https://example.com/auth`), and `cookie_domain`, the domain the
    /// session cookie is sent to (`example.com`: every `*.example.com` gets it).
    ///
    /// Errors: a public URL that is not `http(s)://host[:port][/path]` (no user, query or
    /// fragment); a cookie domain with no dot, an IP address, `localhost`, anything but
    /// letters, digits, `-` and dots, or a domain that does not contain the public URL's
    /// host (the browser would refuse the cookie from there).
    pub fn new(public_url: &str, cookie_domain: Option<&str>) -> Result<Site, InvalidSite> {
        let bad_url = |why: &str| InvalidSite(format!("public URL {public_url:?}: {why}"));
        let url = Url::parse(public_url).map_err(|_| bad_url("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_url("must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad_url("names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad_url("must name no user"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad_url("must have no query or fragment"));
        }
        let cookie_domain = match cookie_domain {
            None => None,
            Some(domain) => Some(checked_cookie_domain(domain, &url)?),
        };
        Ok(Site {
            public_url: url,
            cookie_domain,
        })
    }

    /// The public URL, without a trailing `/`.
    pub fn public_url(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// The public URL's scheme, `http` or `https`.
    pub(crate) fn scheme(&self) -> &str {
        self.public_url.scheme()
    }

    /// The cookie domain, lower-cased and without a leading dot.
    pub fn cookie_domain(&self) -> Option<&str> {
        self.cookie_domain.as_deref()
    }

    /// Whether `host` (lower-case, without port) is one authd vouches for: the public URL's
    /// host, or the cookie domain and any name under it.
    pub(crate) fn covers(&self, host: &str) -> bool {
        Some(host) == self.public_url.host_str()
            || self
                .cookie_domain
                .as_deref()
                .is_some_and(|d| within(host, d))
    }

    /// `{public_url}/login`, with `?rd=` carrying `rd` (percent-encoded) when given.
    pub(crate) fn login_url(&self, rd: Option<&str>) -> String {
        let mut login = format!("{}/login", self.public_url());
        if let Some(rd) = rd {
            login.push_str("?rd=");
            login.extend(url::form_urlencoded::byte_serialize(rd.as_bytes()));
        }
        login
    }
}

/// Whether `host` is `domain` or a name under it.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.') && head.len() > 1)
}

/// The cookie domain as the cookie will carry it, or why it cannot be.
fn checked_cookie_domain(domain: &str, public_url: &Url) -> Result<String, InvalidSite> {
    let bad = |why: &str| InvalidSite(format!("cookie domain {domain:?}: {why}"));
    let name = domain
        .strip_prefix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    if name.parse::<IpAddr>().is_ok() || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Err(bad("is an IP address (a cookie domain is a name)"));
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(bad(
            "is localhost (browsers keep such cookies to the one host)",
        ));
    }
    if !is_domain_name(&name) {
        return Err(bad(
            "must be a domain name: letters, digits, - and dots, no empty label",
        ));
    }
    if !name.contains('.') {
        return Err(bad(
            "has no dot (a browser refuses a cookie for a whole top-level domain)",
        ));
    }
    let host = public_url.host_str().unwrap_or_default();
    if !within(host, &name) {
        return Err(bad(&format!(
            "does not contain the public URL's host {host:?} (the browser would refuse the \
             cookie from there)"
        )));
    }
    Ok(name)
}

/// Lower-case letters, digits, `-` and dots, between 1 and 253 bytes, labels of 1 to 63.
fn is_domain_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Who may reach one host (or every host under a domain) through forward-auth:
/// `--forward-auth-rule HOST=WHO`, parsed with [`str::parse`] (or [`parse_forward_auth_rule`]).
///
/// `HOST` is a host name (`wiki.example.com`) or `*.` and a domain (`*.example.com`: every
/// name under it, not the domain itself). `WHO` is a comma-separated list of `any` (every
/// signed-in account), `verified` (a confirmed address), `two-factor` (a second factor), an
/// address `a@x.com` or a domain `@x.com`. An account is let through when it is one of the
/// addresses or domains listed (any account when none is, or with `any`), and meets every
/// condition listed (`verified`, `two-factor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardAuthRule {
    /// Lower-case; `Some(domain)` for `*.domain`.
    host: String,
    wildcard: bool,
    who: Vec<Who>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    Any,
    Verified,
    TwoFactor,
    Address(String),
    /// Without its `@`.
    Domain(String),
}

impl FromStr for ForwardAuthRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (host, who) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: not HOST=WHO"))?;
        let host = host.trim().to_ascii_lowercase();
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, host.as_str()),
        };
        if !is_domain_name(name) {
            return Err(format!(
                "{text:?}: the host must be a name (or *. and a domain): letters, digits, - and dots"
            ));
        }
        let mut list = Vec::new();
        for item in who.split(',') {
            let item = item.trim().to_lowercase();
            let parsed = match item.as_str() {
                "any" => Who::Any,
                "verified" => Who::Verified,
                "two-factor" => Who::TwoFactor,
                _ => match item.split_once('@') {
                    Some(("", domain)) if is_domain_name(domain) => Who::Domain(domain.to_owned()),
                    Some((local, domain))
                        if !local.is_empty()
                            && is_domain_name(domain)
                            && !local.contains(|c: char| c.is_whitespace() || c == '@') =>
                    {
                        Who::Address(item.clone())
                    }
                    _ => {
                        return Err(format!(
                            "{text:?}: {item:?} is none of any, verified, two-factor, an \
                             address (a@x.com) or a domain (@x.com)"
                        ))
                    }
                },
            };
            list.push(parsed);
        }
        Ok(ForwardAuthRule {
            host: name.to_owned(),
            wildcard,
            who: list,
        })
    }
}

/// `--forward-auth-rule`'s value parser: [`ForwardAuthRule`]'s `FromStr`.
pub fn parse_forward_auth_rule(text: &str) -> Result<ForwardAuthRule, String> {
    text.parse()
}

impl ForwardAuthRule {
    /// Whether this rule is about `host` (lower-case, without port).
    fn names(&self, host: &str) -> bool {
        if self.wildcard {
            host.strip_suffix(self.host.as_str())
                .is_some_and(|head| head.ends_with('.') && head.len() > 1)
        } else {
            host == self.host
        }
    }

    /// Whether `user` may pass; `second_factor`: whether the account signs in with a second
    /// factor (two-factor codes on).
    fn lets_through(&self, user: &User, second_factor: bool) -> bool {
        let email = user.email.to_lowercase();
        let mut named = false;
        let mut matched = false;
        for who in &self.who {
            match who {
                Who::Any => matched = true,
                Who::Verified if user.email_verified_at.is_none() => return false,
                Who::TwoFactor if !second_factor => return false,
                Who::Verified | Who::TwoFactor => {}
                Who::Address(address) => {
                    named = true;
                    matched |= email == *address;
                }
                Who::Domain(domain) => {
                    named = true;
                    matched |= email.rsplit_once('@').is_some_and(|(_, at)| at == domain);
                }
            }
        }
        matched || !named
    }
}

/// The rule that decides for `host` (lower-case, without port): the rule for the host itself,
/// else the one of the longest `*.domain` around it; `None`: no rule, any signed-in account.
fn rule_for<'a>(rules: &'a [ForwardAuthRule], host: &str) -> Option<&'a ForwardAuthRule> {
    let exact = rules.iter().find(|rule| !rule.wildcard && rule.names(host));
    exact.or_else(|| {
        rules
            .iter()
            .filter(|rule| rule.wildcard && rule.names(host))
            .max_by_key(|rule| rule.host.len())
    })
}

/// Whether the rule for `host` asks for `two-factor`: only then is the account's second
/// factor looked up (one more read), so other hosts stay at one session lookup.
pub(crate) fn asks_second_factor(rules: &[ForwardAuthRule], host: &str) -> bool {
    rule_for(rules, host).is_some_and(|rule| rule.who.contains(&Who::TwoFactor))
}

/// Whether `user` may reach `host` (lower-case, without port) under `rules`;
/// `second_factor`: whether the account has two-factor sign-in on (read only when
/// [`asks_second_factor`]; pass false otherwise).
pub(crate) fn allowed(
    rules: &[ForwardAuthRule],
    host: &str,
    user: &User,
    second_factor: bool,
) -> bool {
    rule_for(rules, host).is_none_or(|rule| rule.lets_through(user, second_factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: &str, verified: bool) -> User {
        let mut user = User::new(1, email.to_owned(), String::new());
        user.email_verified_at = verified.then_some(1);
        user
    }

    #[test]
    fn a_cookie_domain_must_contain_the_public_host() {
        let site = Site::new("https://auth.example.com/", Some(".Example.com")).unwrap();
        assert_eq!(site.cookie_domain(), Some("example.com"));
        assert_eq!(site.public_url(), "https://auth.example.com");
        assert!(site.covers("app.example.com"));
        assert!(site.covers("example.com"));
        assert!(!site.covers("badexample.com"));
        assert!(!site.covers("example.com.evil.test"));
        for (domain, why) in [
            ("com", "no dot"),
            ("127.0.0.1", "IP"),
            ("[::1]", "IP"),
            ("localhost", "localhost"),
            ("other.com", "does not contain"),
            ("ample.com", "does not contain"),
            ("exa mple.com", "domain name"),
            ("example..com", "domain name"),
        ] {
            let error = Site::new("https://auth.example.com", Some(domain)).unwrap_err();
            assert!(error.to_string().contains(why), "{domain}: {error}");
        }
        assert!(Site::new("https://127.0.0.1:8080", Some("example.com")).is_err());
        for url in [
            "ftp://a.test",
            "https://",
            "https://a.test?x=1",
            "https://u@a.test",
            "a.test",
        ] {
            assert!(Site::new(url, None).is_err(), "{url}");
        }
        let site = Site::new("http://127.0.0.1:8080/auth", None).unwrap();
        assert_eq!(
            site.login_url(Some("http://127.0.0.1:8080/a?b=c&d")),
            "http://127.0.0.1:8080/auth/login?rd=http%3A%2F%2F127.0.0.1%3A8080%2Fa%3Fb%3Dc%26d"
        );
    }

    #[test]
    fn rules_parse_and_refuse_what_they_do_not_know() {
        let rule: ForwardAuthRule = "*.Example.com=@example.com, two-factor".parse().unwrap();
        assert!(rule.wildcard);
        assert_eq!(rule.host, "example.com");
        assert_eq!(
            rule.who,
            [Who::Domain("example.com".into()), Who::TwoFactor]
        );
        for bad in [
            "example.com",
            "=any",
            "a b.com=any",
            "*.=any",
            "x.com=",
            "x.com=everyone",
            "x.com=a@",
            "x.com=@",
            "x.com=a@b@c.com",
        ] {
            assert!(bad.parse::<ForwardAuthRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let rules: Vec<ForwardAuthRule> = [
            "*.example.com=@example.com",
            "*.ops.example.com=boss@example.com,verified",
            "wiki.example.com=any",
            "open.test=any",
        ]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
        let staff = user("ann@example.com", true);
        let boss = user("boss@example.com", true);
        let unverified_boss = user("boss@example.com", false);
        let guest = user("guest@other.test", true);
        assert!(allowed(&rules, "app.example.com", &staff, false));
        assert!(!allowed(&rules, "app.example.com", &guest, false));
        assert!(allowed(&rules, "wiki.example.com", &guest, false));
        assert!(!allowed(&rules, "db.ops.example.com", &staff, false));
        assert!(allowed(&rules, "db.ops.example.com", &boss, false));
        assert!(!allowed(
            &rules,
            "db.ops.example.com",
            &unverified_boss,
            false
        ));
        // No rule: any signed-in account. `*.` does not cover the domain itself.
        assert!(allowed(&rules, "example.com", &guest, false));
        assert!(allowed(&rules, "elsewhere.test", &guest, false));
    }

    #[test]
    fn two_factor_lets_through_only_an_account_with_a_second_factor() {
        let rules: Vec<ForwardAuthRule> = vec!["admin.example.com=two-factor".parse().unwrap()];
        let ann = user("ann@example.com", true);
        assert!(asks_second_factor(&rules, "admin.example.com"));
        assert!(!asks_second_factor(&rules, "wiki.example.com"));
        assert!(!allowed(&rules, "admin.example.com", &ann, false));
        assert!(allowed(&rules, "admin.example.com", &ann, true));
        let rules: Vec<ForwardAuthRule> = vec!["admin.example.com=ann@example.com,two-factor"
            .parse()
            .unwrap()];
        assert!(!allowed(&rules, "admin.example.com", &ann, false));
        assert!(allowed(&rules, "admin.example.com", &ann, true));
        let bob = user("bob@example.com", true);
        assert!(!allowed(&rules, "admin.example.com", &bob, true));
    }
}
