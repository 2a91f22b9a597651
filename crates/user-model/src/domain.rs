//! The domain of a new address: its canonical form (UTS #46, IDNA) and the rules beyond it
//! (a mail domain, no label mixing scripts, UTS #39).

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

use crate::invalid_email::InvalidEmail;

/// The domain as UTS #46 ToUnicode writes it (mapped: lower case, full-width forms folded,
/// Unicode NFC; punycode labels decoded), if it is a valid host name: STD3 characters only
/// (letters, digits, hyphens), no hyphen first or last in a label, DNS lengths (labels of at
/// most 63 bytes, 253 in all, in the ASCII form), no empty label (so no trailing dot).
pub(crate) fn canonical_domain(domain: &str) -> Option<String> {
    let uts46 = Uts46::new();
    uts46
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .ok()?;
    let (unicode, errors) = uts46.to_unicode(
        domain.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::CheckFirstLast,
    );
    errors.ok()?;
    Some(unicode.into_owned())
}

/// The rules on a canonical domain beyond UTS #46: at least two labels (`localhost` has no
/// mail exchanger of its own), a top-level label that is not all digits (`127.0.0.1` is an
/// address; `[127.0.0.1]` is refused by STD3 already), and no label mixing scripts beyond what
/// UTS #39 calls highly restrictive (Latin with Han, kana or Hangul is fine; a Cyrillic `р`
/// among Latin letters is not).
pub(crate) fn check_domain(domain: &str) -> Result<(), InvalidEmail> {
    let labels: Vec<&str> = domain.split('.').collect();
    let top = labels.last().copied().unwrap_or_default();
    if labels.len() < 2 || top.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidEmail::Domain);
    }
    let mixed =
        |label: &&str| label.detect_restriction_level() > RestrictionLevel::HighlyRestrictive;
    if labels.iter().any(mixed) {
        return Err(InvalidEmail::MixedScripts);
    }
    Ok(())
}
