//! Session and reset tokens: the plain value goes to the client once, the database keeps its
//! SHA-256.

use std::fmt;

use sha2::{Digest, Sha256};

/// A random UUID v4 in its 36-character text form (the contract's `_generate_uuid`).
pub fn generate_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

// SHA-256, not bcrypt: a token has 122 random bits, so there is nothing to brute-force, and
// every authenticated request pays for this hash.
pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

macro_rules! secret_token {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub(crate) fn generate() -> Self {
                $name(generate_uuid())
            }

            /// The plain token, for the one place it goes (a cookie, a response body).
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub(crate) fn digest(&self) -> String {
                digest(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

secret_token!(
    /// What a logged-in client holds in its `session_id` cookie.
    SessionToken
);
secret_token!(
    /// What `POST /reset_password` hands out (or mails), to be given back with the new
    /// password.
    ResetToken
);
secret_token!(
    /// What the verification mail's link carries, to be given back to confirm the address.
    VerifyToken
);
secret_token!(
    /// What a sign-in of a two-factor account hands out after the right password, to be
    /// given back with the code (`POST /sessions/mfa`); single use, 5 minutes.
    MfaToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uuid_is_a_36_character_version_4_uuid() {
        let id = generate_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_ne!(id, generate_uuid());
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tokens_do_not_show_in_debug_output() {
        let token = SessionToken::generate();
        assert_eq!(format!("{token:?}"), "SessionToken(..)");
        assert_eq!(format!("{:?}", ResetToken::generate()), "ResetToken(..)");
    }
}
