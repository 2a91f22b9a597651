//! Secrets a test can search for without false alarms, and the search itself: a password
//! like `pw` occurs by chance in a bcrypt hash (about one run in a hundred), and a hex digest
//! can never contain `bob`, so neither search proves anything.

/// A secret that no encoding of other data can produce: 128 random bits (so it occurs nowhere
/// by chance) written in hex, between `~` and `!`, which are outside the alphabets of hex,
/// base64 (standard and URL-safe) and bcrypt, so no hash, digest or encoded blob contains it.
/// `label` (letters, digits, `-`) says what it is in a failure message. Usable as a password
/// (printable ASCII, at most 72 bytes for a label of up to 30).
pub fn unique_secret(label: &str) -> String {
    format!("{label}~{}!", uuid::Uuid::new_v4().simple())
}

/// Panics when `haystack` (a log, a database file, an answer) holds `secret` in any form it
/// could have been written in: as is, in hex (either case), in base64 (standard or URL-safe, at
/// any alignment within a longer encoded blob), or percent-encoded (either case, `+` for a
/// space, as in a form or a URL). `place` names the haystack in the message.
pub fn assert_no_secret(haystack: &[u8], secret: &str, place: &str) {
    for (form, needle) in forms_of(secret) {
        if !needle.is_empty()
            && haystack
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        {
            panic!("{secret:?} is in {place} ({form})");
        }
    }
}

/// Panics when `haystack` holds `secret`, bytes that need not be text (a random key, a TOTP
/// secret), as they are, in hex (either case), or in base64 (standard or URL-safe, at any
/// alignment within a longer encoded blob). `place` names the haystack in the message.
pub fn assert_no_bytes(haystack: &[u8], secret: &[u8], place: &str) {
    for (form, needle) in forms_of_bytes(secret) {
        if !needle.is_empty()
            && haystack
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        {
            panic!("{} bytes of a secret are in {place} ({form})", secret.len());
        }
    }
}

/// The forms [`assert_no_bytes`] looks for, named.
fn forms_of_bytes(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut forms = vec![
        ("as is", bytes.to_vec()),
        ("hex", hex(bytes, b"0123456789abcdef")),
        ("upper-case hex", hex(bytes, b"0123456789ABCDEF")),
    ];
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for offset in 0..3 {
        forms.push(("base64", base64_core(bytes, offset, STANDARD)));
        forms.push(("URL-safe base64", base64_core(bytes, offset, URL_SAFE)));
    }
    forms
}

/// Every form [`assert_no_secret`] looks for, named.
pub fn forms_of(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let bytes = secret.as_bytes();
    let mut forms = vec![
        ("as is", bytes.to_vec()),
        ("hex", hex(bytes, b"0123456789abcdef")),
        ("upper-case hex", hex(bytes, b"0123456789ABCDEF")),
        ("percent-encoded", percent(bytes, b"0123456789ABCDEF")),
        (
            "lower-case percent-encoded",
            percent(bytes, b"0123456789abcdef"),
        ),
    ];
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for offset in 0..3 {
        forms.push(("base64", base64_core(bytes, offset, STANDARD)));
        forms.push(("URL-safe base64", base64_core(bytes, offset, URL_SAFE)));
    }
    forms
}

fn hex(bytes: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]])
        .collect()
}

/// As `application/x-www-form-urlencoded` writes it: letters, digits and `-._*~` as they are,
/// a space as `+`, every other byte as `%XX`.
fn percent(bytes: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' | b'~' => {
                out.push(b)
            }
            b' ' => out.push(b'+'),
            _ => out.extend([
                b'%',
                digits[usize::from(b >> 4)],
                digits[usize::from(b & 15)],
            ]),
        }
    }
    out
}

/// The base64 characters that depend on `bytes` alone when they sit `offset` bytes (mod 3)
/// into an encoded blob: whatever comes before or after, these characters are in it.
fn base64_core(bytes: &[u8], offset: usize, alphabet: &[u8; 64]) -> Vec<u8> {
    let mut data = vec![0u8; offset];
    data.extend_from_slice(bytes);
    let mut chars = Vec::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            chars.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    // Character i covers bits 6i..6i+6; keep those wholly inside the secret's bits.
    let start = (8 * offset).div_ceil(6);
    let end = (8 * (offset + bytes.len())) / 6;
    chars
        .get(start..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_secret_occurs_in_no_hex_base64_or_bcrypt_alphabet() {
        let secret = unique_secret("pw");
        assert!(secret.len() <= 72 && secret.starts_with("pw~") && secret.ends_with('!'));
        assert_ne!(unique_secret("pw"), secret);
        let encoded = b"0123456789abcdefABCDEF+/-_=./";
        assert!(secret.bytes().any(|b| !encoded.contains(&b)));
    }

    #[test]
    fn raw_bytes_are_found_as_they_are_in_hex_and_in_base64() {
        let secret = [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff];
        for (haystack, expected) in [
            (&b"xx de ad be ef 00 ff yy"[..], false),
            (&[1, 0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 2][..], true),
            (b"..DEADBEEF00FF..", true),
            (b"..deadbeef00ff..", true),
            (b"3q2+7wD/", true),     // base64 of the bytes
            (b"AN6tvu8A/w==", true), // base64 of 0x00 and the bytes
            (b"deadbeef00fe", false),
        ] {
            let found = std::panic::catch_unwind(|| assert_no_bytes(haystack, &secret, "it"));
            assert_eq!(found.is_err(), expected, "{haystack:?}");
        }
    }

    #[test]
    fn every_form_of_the_secret_is_found_inside_a_longer_blob() {
        let secret = "pw~0af3!";
        // Encodings of the secret within longer text, written by coreutils (`base64`, `xxd`).
        let cases: [(&str, bool); 11] = [
            ("log: pw~0af3! end", true),
            ("xx70777e3061663321yy", true),
            ("XX70777E3061663321", true),
            ("email=a&password=pw~0af3%21&x", true),
            ("password=pw%7e0af3%21", false), // `~` is never encoded by forms
            ("cHd+MGFmMyE=", true),           // base64("pw~0af3!")
            ("eHB3fjBhZjMh", true),           // base64("xpw~0af3!")
            ("eHlwd34wYWYzIQ==", true),       // base64("xypw~0af3!")
            ("eHlwd34wYWYzIXo=", true),       // base64("xypw~0af3!z")
            ("7077 7e30616633 21", false),
            ("pw~0af3? cHd+MGFmMz8=", false), // "pw~0af3?" as is and in base64
        ];
        for (haystack, expected) in cases {
            let found = std::panic::catch_unwind(|| {
                assert_no_secret(haystack.as_bytes(), secret, "the haystack")
            });
            assert_eq!(found.is_err(), expected, "{haystack}");
        }
    }
}
