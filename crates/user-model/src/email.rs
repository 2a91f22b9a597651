//! Email addresses as authd stores and compares them.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::domain::{canonical_domain, check_domain};
use crate::invalid_email::InvalidEmail;

/// The longest address authd accepts (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A trimmed, lower-cased address with exactly one `@` and text on both sides.
///
/// Two spellings that differ only in case or surrounding white space are one account.
/// [`Email::parse`] reads an address to look it up (any address an account may have been
/// stored under, also by an earlier release); [`Email::parse_new`] says whether a new account
/// may have it, and gives the canonical form to store.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`; rejects it unless it has exactly one `@` with text on both
    /// sides, no inner white space or control characters, no invisible or display-changing
    /// character and no `<`/`>` (see [`InvalidEmail::ForbiddenCharacter`]), and at most 254
    /// characters.
    ///
    /// Every rule is checked on the lower-cased text that is stored, so what `parse` accepts
    /// parses again to itself: `parse(parse(x).as_str()) == parse(x)`.
    ///
    /// This is the form to look an address up with: it accepts every address an account may
    /// have been stored under, also those an earlier release let in and [`Email::parse_new`]
    /// now refuses (`"bob"@x.io`, `bob@localhost`), so those accounts keep working.
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

    /// An address a new account may have: the rules of [`Email::parse`], then those every mail
    /// server applies (see [`InvalidEmail::LocalPart`], [`InvalidEmail::Domain`],
    /// [`InvalidEmail::MixedScripts`]), with the domain in its canonical form (UTS #46
    /// ToUnicode: `Bob@Ｘ。IO` and `bob@xn--caf-dma.fr` become `bob@x.io` and `bob@café.fr`).
    ///
    /// Every rule is checked on the canonical text that is stored, and what `parse_new`
    /// accepts parses again to itself. An address stored before these rules existed keeps
    /// working through [`Email::parse`] (and [`Email::canonical`]), which only look it up.
    pub fn parse_new(raw: &str) -> Result<Self, InvalidEmail> {
        let typed = Email::parse(raw)?;
        let (local, domain) = typed.parts();
        check_local_part(local)?;
        let domain = canonical_domain(domain).ok_or(InvalidEmail::Domain)?;
        // The canonical domain may be longer or shorter than the typed one: `parse` checks
        // its rules again on the text that is stored.
        let stored = Email::parse(&format!("{local}@{domain}"))?;
        check_domain(stored.parts().1)?;
        Ok(stored)
    }

    /// This address with its domain in the canonical form [`Email::parse_new`] stores, or
    /// itself when its domain has none (an address stored before those rules, such as
    /// `bob@localhost`). Lookups try the address as typed, then this form; login throttling
    /// counts under this form, so that the spellings of one address share one count.
    pub fn canonical(&self) -> Email {
        let (local, domain) = self.parts();
        match canonical_domain(domain) {
            Some(canonical) if canonical != domain => {
                Email::parse(&format!("{local}@{canonical}")).unwrap_or_else(|_| self.clone())
            }
            _ => self.clone(),
        }
    }

    /// The text before and after the `@`.
    fn parts(&self) -> (&str, &str) {
        self.0.split_once('@').unwrap_or((&self.0, ""))
    }
}

/// Characters that make one address look like another, or like markup: every Unicode format
/// character (category Cf: zero-width space and joiners, bidirectional overrides and isolates,
/// the soft hyphen, the byte-order mark…) and the angle brackets of `Name <addr>` and HTML.
fn is_forbidden(c: char) -> bool {
    matches!(c, '<' | '>') || c.general_category() == GeneralCategory::Format
}

/// The most a mail server takes before the `@` (RFC 5321, 4.5.3.1.1), in bytes.
const MAX_LOCAL_PART_BYTES: usize = 64;

/// The ASCII characters an unquoted local part may hold besides letters, digits and dots
/// between them (RFC 5322 `atext`).
const LOCAL_PART_SYMBOLS: &str = "!#$%&'*+-/=?^_`{|}~";

/// The local part of a new address: a dot-atom (RFC 5322; RFC 6532 for non-ASCII letters) of at
/// most 64 bytes. Quotes, backslashes, commas, parentheses and the like are refused: a quoted
/// `"bob"` is the mailbox `bob` to a mail server, so it would be a second account for one
/// mailbox. So is any character that compatibility-normalises to one of them (the full-width
/// `＠`, `＂`, `，`, `．`).
fn check_local_part(local: &str) -> Result<(), InvalidEmail> {
    let plain = |c: char| c.is_ascii_alphanumeric() || LOCAL_PART_SYMBOLS.contains(c);
    let allowed = |c: char| {
        if c.is_ascii() {
            plain(c)
        } else {
            std::iter::once(c)
                .nfkc()
                .all(|folded| !folded.is_ascii() || plain(folded))
        }
    };
    let fits = local.len() <= MAX_LOCAL_PART_BYTES
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(allowed));
    if fits {
        Ok(())
    } else {
        Err(InvalidEmail::LocalPart)
    }
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

    fn new(raw: &str) -> Result<String, InvalidEmail> {
        Email::parse_new(raw).map(|email| email.as_str().to_owned())
    }

    #[test]
    fn a_new_address_has_a_plain_local_part() {
        for raw in [
            r#""victim"@x.io"#,
            r#"vic\tim@x.io"#,
            "bob,eve@x.io",
            "bob(x)@x.io",
            "bob;x@x.io",
            "bob:x@x.io",
            "[bob]@x.io",
            ".bob@x.io",
            "bob.@x.io",
            "bo..b@x.io",
            "bob\u{ff20}evil@x.io",
            "bob\u{fe6b}evil@x.io",
            "bob\u{ff02}@x.io",
            "bob\u{ff0e}x@x.io",
        ] {
            assert_eq!(new(raw), Err(InvalidEmail::LocalPart), "{raw:?}");
        }
        let at_limit = format!("{}@x.io", "a".repeat(64));
        assert!(new(&at_limit).is_ok());
        let over = format!("{}@x.io", "a".repeat(65));
        assert_eq!(new(&over), Err(InvalidEmail::LocalPart));
        // 64 bytes, not characters: `é` is two.
        assert_eq!(
            new(&format!("{}@x.io", "é".repeat(33))),
            Err(InvalidEmail::LocalPart)
        );
        for fine in [
            "a.b+c@x.io",
            "o'neil@x.io",
            "josé@x.io",
            "ａｂ@x.io",
            "!#$%&*/=?^_`{|}~-@x.io",
        ] {
            assert!(new(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn a_new_address_has_a_domain_mail_can_go_to() {
        for raw in [
            "bob@x.io.",
            "bob@x..io",
            "bob@.x.io",
            "bob@localhost",
            "bob@127.0.0.1",
            "bob@[127.0.0.1]",
            "bob@[ipv6:::1]",
            "bob@x_y.io",
            "bob@-x.io",
            "bob@x-.io",
            "bob@x,y.io",
            "bob@x!.io",
        ] {
            assert_eq!(new(raw), Err(InvalidEmail::Domain), "{raw:?}");
        }
        let label = "a".repeat(64);
        assert_eq!(new(&format!("bob@{label}.io")), Err(InvalidEmail::Domain));
        assert!(new(&format!("bob@{}.io", "a".repeat(63))).is_ok());
    }

    #[test]
    fn a_new_address_has_no_domain_label_mixing_scripts() {
        for raw in [
            "bob@\u{440}aypal.com",
            "bob@g\u{43e}ogle.com",
            "bob@x.\u{3b9}o",
        ] {
            assert_eq!(new(raw), Err(InvalidEmail::MixedScripts), "{raw:?}");
        }
        for fine in [
            "bob@\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}", // пример.рф
            "bob@例え.テスト",
            "bob@日本語ドメイン.jp",
            "bob@café.fr",
            "bob@straße.de",
            "bob@中国abc.cn",     // Han with Latin
            "bob@한국abc.kr",     // Hangul with Latin
            "bob@日本abcかな.jp", // Han, kana and Latin
        ] {
            assert!(new(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn a_new_address_is_stored_with_its_domain_in_canonical_form() {
        for (raw, stored) in [
            ("Bob@\u{ff38}\u{3002}IO", "bob@x.io"),
            ("al@xn--caf-dma.fr", "al@caf\u{e9}.fr"),
            ("al@XN--CAF-DMA.FR", "al@caf\u{e9}.fr"),
            ("al@cafe\u{301}.fr", "al@caf\u{e9}.fr"),
            ("Al@CAF\u{c9}.fr", "al@caf\u{e9}.fr"),
            ("bob@x.io", "bob@x.io"),
        ] {
            assert_eq!(new(raw).as_deref(), Ok(stored), "{raw:?}");
            assert_eq!(
                Email::parse(raw).unwrap().canonical().as_str(),
                stored,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_canonical_form_of_an_address_without_one_is_itself() {
        for raw in [r#""bob"@x.io"#, "bob@localhost", "bob@x.io.", "bob@x_y.io"] {
            let typed = Email::parse(raw).unwrap();
            assert_eq!(typed.canonical(), typed, "{raw:?}");
        }
    }

    #[test]
    fn a_new_address_parses_again_to_itself_and_every_rule_holds_on_it() {
        for raw in [
            "  Bob@X.IO ",
            "José@Café.fr",
            "\u{130}stanbul@X.io",
            "ΣΊΣΥΦΟΣ@x.io",
            "K\u{212a}@x.io",
            "bob@\u{ff38}\u{3002}IO",
            "al@xn--caf-dma.fr",
            "al@cafe\u{301}.FR",
            "bob@ＳＴＲＡＳＳＥ.de",
            "bob@straße.de",
            "a@\u{fb01}x.io",
        ] {
            let once = Email::parse_new(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(Email::parse_new(once.as_str()), Ok(once.clone()), "{raw:?}");
            assert_eq!(Email::parse(once.as_str()), Ok(once.clone()), "{raw:?}");
            assert_eq!(once.canonical(), once, "{raw:?}");
        }
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
