//! Email addresses as authd stores and compares them.

use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest address authd accepts (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A trimmed, lower-cased address with exactly one `@` and text on both sides.
///
/// Two spellings that differ only in case or surrounding white space are one account.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Email(String);

/// Why a string is not an acceptable address. The message is safe to show a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidEmail {
    /// Nothing but white space.
    Empty,
    /// Over [`MAX_EMAIL_LEN`] characters after trimming.
    TooLong,
    /// Not exactly one `@` with text on both sides, or white space or control characters inside.
    Malformed,
    /// Holds a character that is invisible or changes how text around it is shown (zero-width,
    /// bidirectional controls and the other Unicode format characters), or `<` / `>`.
    ForbiddenCharacter,
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
        })
    }
}

impl std::error::Error for InvalidEmail {}

impl Email {
    /// Trims and lower-cases `raw`; rejects it unless it has exactly one `@` with text on both
    /// sides, no inner white space or control characters, no invisible or display-changing
    /// character and no `<`/`>` (see [`InvalidEmail::ForbiddenCharacter`]), and at most 254
    /// characters.
    ///
    /// Every rule is checked on the lower-cased text that is stored, so what `parse` accepts
    /// parses again to itself: `parse(parse(x).as_str()) == parse(x)`.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        // Lower-casing never shortens text (each character becomes one to three), so this
        // early check only spares the work of lower-casing a long body.
        if trimmed.chars().count() > MAX_EMAIL_LEN {
            return Err(InvalidEmail::TooLong);
        }
        // The rules below hold on what is stored and echoed, not on what was sent: some
        // characters grow when lower-cased (`İ`, U+0130, becomes `i` and U+0307), and an address
        // that fits only before lower-casing could never be typed in again.
        let lowered = trimmed.to_lowercase();
        if lowered.chars().count() > MAX_EMAIL_LEN {
            return Err(InvalidEmail::TooLong);
        }
        let mut parts = lowered.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(InvalidEmail::Malformed);
        };
        let clean = |c: char| !c.is_whitespace() && !c.is_control();
        if local.is_empty() || domain.is_empty() || !lowered.chars().all(clean) {
            return Err(InvalidEmail::Malformed);
        }
        if lowered.chars().any(is_forbidden) {
            return Err(InvalidEmail::ForbiddenCharacter);
        }
        Ok(Email(lowered))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that make one address look like another, or like markup: every Unicode format
/// character (category Cf: zero-width space and joiners, bidirectional overrides and isolates,
/// the soft hyphen, the byte-order mark…) and the angle brackets of `Name <addr>` and HTML.
fn is_forbidden(c: char) -> bool {
    matches!(c, '<' | '>') || c.general_category() == GeneralCategory::Format
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Bob@X.IO \n").unwrap().as_str(), "bob@x.io");
    }

    #[test]
    fn email_without_at_sign_is_rejected() {
        assert_eq!(Email::parse("bob.x.io"), Err(InvalidEmail::Malformed));
    }

    #[test]
    fn email_with_two_at_signs_is_rejected() {
        assert_eq!(Email::parse("bob@x@io"), Err(InvalidEmail::Malformed));
    }

    #[test]
    fn email_needs_text_on_both_sides_of_the_at_sign() {
        assert_eq!(Email::parse("@x.io"), Err(InvalidEmail::Malformed));
        assert_eq!(Email::parse("bob@"), Err(InvalidEmail::Malformed));
    }

    #[test]
    fn email_with_inner_space_or_control_character_is_rejected() {
        assert_eq!(Email::parse("bo b@x.io"), Err(InvalidEmail::Malformed));
        assert_eq!(Email::parse("bob@x\u{0}.io"), Err(InvalidEmail::Malformed));
    }

    #[test]
    fn email_with_invisible_or_direction_changing_characters_is_rejected() {
        for raw in [
            "kel\u{200b}ly@x.io", // zero-width space
            "\u{202e}kelly@x.io", // right-to-left override
            "kelly@x\u{2066}.io", // left-to-right isolate
            "kel\u{00ad}ly@x.io", // soft hyphen
            "\u{feff}kelly@x.io", // byte-order mark
            "kel\u{200d}ly@x.io", // zero-width joiner
        ] {
            assert_eq!(
                Email::parse(raw),
                Err(InvalidEmail::ForbiddenCharacter),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn email_with_angle_brackets_is_rejected() {
        assert_eq!(
            Email::parse("<script>alert(1)</script>@x.io"),
            Err(InvalidEmail::ForbiddenCharacter)
        );
        assert_eq!(Email::parse("Bob <bob@x.io>"), Err(InvalidEmail::Malformed));
        assert_eq!(
            Email::parse("<bob@x.io>"),
            Err(InvalidEmail::ForbiddenCharacter)
        );
    }

    #[test]
    fn international_letters_stay_accepted() {
        assert_eq!(
            Email::parse("José@Café.fr").unwrap().as_str(),
            "josé@café.fr"
        );
    }

    #[test]
    fn blank_email_is_empty() {
        assert_eq!(Email::parse("   "), Err(InvalidEmail::Empty));
    }

    #[test]
    fn email_of_254_characters_is_accepted_and_255_rejected() {
        let at_limit = format!("{}@x.io", "a".repeat(254 - 5));
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("{}@x.io", "a".repeat(255 - 5));
        assert_eq!(Email::parse(&over), Err(InvalidEmail::TooLong));
    }

    #[test]
    fn an_address_that_grows_past_254_characters_when_lower_cased_is_too_long() {
        // `İ` (U+0130) lower-cases to two characters: 254 sent, 255 stored.
        let raw = format!("{}\u{130}@x.io", "a".repeat(248));
        assert_eq!(raw.chars().count(), 254);
        assert_eq!(Email::parse(&raw), Err(InvalidEmail::TooLong));
        let fits = format!("{}\u{130}@x.io", "a".repeat(247));
        let email = Email::parse(&fits).unwrap();
        assert_eq!(email.as_str().chars().count(), 254);
    }

    #[test]
    fn an_accepted_address_parses_again_to_itself() {
        for raw in [
            "  Bob@X.IO ",
            "José@Café.fr",
            "\u{130}stanbul@X.io",
            "ΣΊΣΥΦΟΣ@x.io",
            "K\u{212a}@x.io",
        ] {
            let once = Email::parse(raw).unwrap();
            assert_eq!(Email::parse(once.as_str()), Ok(once.clone()), "{raw:?}");
        }
    }
}
