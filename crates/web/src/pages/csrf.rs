//! CSRF tokens for the pages' forms, bound to the visitor.
//!
//! Every visitor gets a random cookie (`authd_visitor`, or `__Host-authd_visitor` when the
//! cookies are `Secure`): `HttpOnly`, `SameSite=Lax`, `Path=/`, 244 random bits. A form's
//! token is `SHA-256("authd-csrf-v1" ‖ visitor cookie ‖ session cookie)`, and a POST is
//! accepted only when its `csrf_token` field equals the token computed from the cookies it
//! arrives with. So the token is bound to this browser (the visitor cookie) and, once signed
//! in, to its session (the session cookie, which is `HttpOnly` and secret): a page of
//! another site can read neither, and one that managed to plant a visitor cookie (a sibling
//! subdomain over plain HTTP; the `__Host-` prefix rules that out under HTTPS) still cannot
//! compute the token of a signed-in visitor. No server-side key is needed, so any number of
//! instances accept each other's forms. This sits behind the cross-site check of
//! `origins.rs` (`Origin` and `Sec-Fetch-Site`), which refuses the same posts first.
//!
//! A page handler reads its form only as a `CsrfForm` (`form.rs`), the extractor that checks
//! the token with [`Visitor::accepts`] before the handler runs: the check cannot be
//! forgotten, as there is no other way to the fields (and nothing else calls the check).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;
use sha2::{Digest, Sha256};

use crate::state::Authd;

/// The visitor cookie's name over plain HTTP.
const VISITOR_COOKIE: &str = "authd_visitor";
/// Its name when cookies are `Secure`: the prefix makes browsers refuse it unless it is
/// `Secure`, `Path=/` and without `Domain`, so no subdomain can set it.
const SECURE_VISITOR_COOKIE: &str = "__Host-authd_visitor";

/// The form field that carries the token.
pub(crate) const FIELD: &str = "csrf_token";

/// The request's visitor id, and whether it was just made (then its cookie must be set).
pub(crate) struct Visitor {
    id: String,
    session: Option<String>,
    fresh: bool,
}

fn cookie_name(authd: &Authd) -> &'static str {
    if authd.options().cookie_secure {
        SECURE_VISITOR_COOKIE
    } else {
        VISITOR_COOKIE
    }
}

/// A visitor id has the shape `generate` gives it; anything else (a planted or damaged
/// cookie) is replaced.
fn well_formed(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn generate() -> String {
    // Two UUID v4s: 244 random bits from the OS generator, as hex.
    let (a, b) = (auth::generate_uuid(), auth::generate_uuid());
    format!("{a}{b}").replace('-', "")
}

impl Visitor {
    /// The visitor of `request`, or a new one when it has no (well-formed) cookie.
    pub(crate) fn of(authd: &Authd, request: &HttpRequest) -> Self {
        let session = request
            .cookie(authd.options().session_cookie_name())
            .map(|c| c.value().to_owned())
            .filter(|value| !value.is_empty());
        match request.cookie(cookie_name(authd)) {
            Some(cookie) if well_formed(cookie.value()) => Visitor {
                id: cookie.value().to_owned(),
                session,
                fresh: false,
            },
            _ => Visitor {
                id: generate(),
                session,
                fresh: true,
            },
        }
    }

    /// The visitor cookie's value: a secret only this browser holds (`HttpOnly`), which a
    /// sign-in through a provider is bound to. A new visitor's is set with the answer.
    pub(crate) fn secret(&self) -> &str {
        &self.id
    }

    /// Whether the request came without a (well-formed) visitor cookie.
    pub(crate) fn is_new(&self) -> bool {
        self.fresh
    }

    /// The token the visitor's forms carry.
    pub(crate) fn token(&self) -> String {
        token(&self.id, self.session.as_deref())
    }

    /// Whether `submitted` is this visitor's token. A visitor without a cookie has no token
    /// yet, so nothing matches.
    pub(super) fn accepts(&self, submitted: Option<&str>) -> bool {
        let Some(submitted) = submitted else {
            return false;
        };
        !self.fresh && constant_time_eq(submitted.as_bytes(), self.token().as_bytes())
    }

    /// The cookie to set with the answer, when the visitor is new.
    pub(crate) fn cookie(&self, authd: &Authd) -> Option<Cookie<'static>> {
        self.fresh.then(|| {
            Cookie::build(cookie_name(authd), self.id.clone())
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(authd.options().cookie_secure)
                .max_age(time::Duration::days(30))
                .finish()
        })
    }
}

fn token(visitor: &str, session: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"authd-csrf-v1\0");
    hash.update(visitor.as_bytes());
    hash.update(b"\0");
    hash.update(session.unwrap_or("").as_bytes());
    hex::encode(hash.finalize())
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_depends_on_the_visitor_and_the_session() {
        let visitor = generate();
        let other = generate();
        assert!(well_formed(&visitor) && well_formed(&other));
        assert_ne!(token(&visitor, None), token(&other, None));
        assert_ne!(token(&visitor, None), token(&visitor, Some("s")));
        assert_ne!(token(&visitor, Some("s")), token(&visitor, Some("t")));
        assert_eq!(token(&visitor, Some("s")), token(&visitor, Some("s")));
    }

    #[test]
    fn a_new_visitor_has_no_token_to_match() {
        let visitor = Visitor {
            id: generate(),
            session: None,
            fresh: true,
        };
        assert!(!visitor.accepts(Some(&visitor.token())));
        let known = Visitor {
            fresh: false,
            ..visitor
        };
        assert!(known.accepts(Some(&known.token())));
        assert!(!known.accepts(Some("")));
        assert!(!known.accepts(None));
    }

    #[test]
    fn a_planted_cookie_of_another_shape_is_not_a_visitor() {
        assert!(!well_formed("attacker"));
        assert!(!well_formed(&"g".repeat(64)));
    }
}
