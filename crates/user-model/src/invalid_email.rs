//! Why an address is refused, in words safe to show a client.

use std::fmt;

/// Why a string is not an acceptable address. The message is safe to show a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidEmail {
    /// Nothing but white space.
    Empty,
    /// Over [`MAX_EMAIL_LEN`](crate::MAX_EMAIL_LEN) characters after trimming.
    TooLong,
    /// Not exactly one `@` with text on both sides, or white space or control characters inside.
    Malformed,
    /// Holds a character that is invisible or changes how text around it is shown (zero-width,
    /// bidirectional controls and the other Unicode format characters), or `<` / `>`.
    ForbiddenCharacter,
    /// Before the `@`, something other than letters, digits, single dots between them and
    /// ``!#$%&'*+-/=?^_`{|}~`` (a quote, backslash, comma, parenthesis, a full-width `＠`…), or
    /// over 64 bytes: no mail server takes it as it is (new accounts only).
    LocalPart,
    /// A domain no mail goes to: an IP address (`[127.0.0.1]`, `127.0.0.1`), a single label
    /// (`localhost`), a trailing dot or empty label, characters a host name cannot have, or a
    /// name UTS #46 refuses (new accounts only).
    Domain,
    /// A domain label mixing scripts, such as a Cyrillic `р` among Latin letters (new
    /// accounts only).
    MixedScripts,
}

impl fmt::Display for InvalidEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidEmail::Empty => "email is required",
            InvalidEmail::TooLong => "email must be at most 254 characters",
            InvalidEmail::Malformed => "email must look like name@domain",
            InvalidEmail::ForbiddenCharacter => {
                "email must not contain invisible, direction-changing or angle-bracket characters"
            }
            InvalidEmail::LocalPart => {
                "email must have only letters, digits, dots between them and \
                 !#$%&'*+-/=?^_`{|}~ before the @, at most 64 bytes"
            }
            InvalidEmail::Domain => {
                "email domain must be a host name such as example.com \
                 (no IP address, no trailing dot)"
            }
            InvalidEmail::MixedScripts => {
                "email domain must not mix alphabets within a name \
                 (such as a Cyrillic letter among Latin ones)"
            }
        })
    }
}

impl std::error::Error for InvalidEmail {}
