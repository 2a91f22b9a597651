//! `Email::parse`: whatever it accepts satisfies every rule in the form that is stored (among
//! them: no format character, Unicode's `Cf`, which hides or reorders text), and parses again
//! to itself (`parse(parse(x)) == parse(x)`), so no accepted address is one that cannot be
//! typed in again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use user_model::{Email, InvalidEmail, MAX_EMAIL_LEN};

fuzz_target!(|raw: &str| {
    let Ok(email) = Email::parse(raw) else {
        // A refusal is stable under the same normalisation (trimming only).
        let error = Email::parse(raw).unwrap_err();
        assert_eq!(Email::parse(raw.trim()), Err(error));
        if error == InvalidEmail::Empty {
            assert!(raw.trim().is_empty());
        }
        return;
    };
    let stored = email.as_str();
    // Idempotence.
    assert_eq!(Email::parse(stored).as_ref(), Ok(&email), "{raw:?}");
    // Every rule holds on the stored form.
    assert!(stored.chars().count() <= MAX_EMAIL_LEN, "{raw:?}");
    assert_eq!(stored, stored.trim());
    assert_eq!(stored, stored.to_lowercase());
    let (local, domain) = stored.split_once('@').expect("an @");
    assert!(!local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    assert!(!stored.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert!(!stored.contains(['<', '>']));
    // Zero-width spaces and joiners, bidirectional controls, soft hyphens, tags…: none.
    let format = stored
        .chars()
        .find(|c| c.general_category() == GeneralCategory::Format);
    assert_eq!(format, None, "{raw:?}");
    // The address the client sent is the stored one up to case and surrounding space.
    assert_eq!(raw.trim().to_lowercase(), stored);
    // Padding with white space changes nothing.
    assert_eq!(Email::parse(&format!(" \t{raw}\n")).as_ref(), Ok(&email));
});
