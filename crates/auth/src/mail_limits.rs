//! Requests for a link are limited per mailbox and kind, in the database so that every
//! instance sees the same counts: at most one mail a minute and five an hour. The mailbox is
//! the one the mail's envelope will name (`RCPT TO`, as lettre writes it: a quoted or escaped
//! local part unquoted), with a `+tag` removed, so `bob@x.io`, `bob+news@x.io` and
//! `"bob"@x.io` (distinct accounts) share one allowance. Every well-formed address is counted,
//! known or not; a request over the limit queues nothing and answers the same.

use db::MailLimit;
use sha2::{Digest, Sha256};

use crate::mail::message::MailKind;

/// Mails of one kind to one mailbox: at most one per this many seconds…
pub const MAIL_EVERY_SECS: i64 = 60;
/// …and at most this many per hour.
pub const MAILS_PER_HOUR: usize = 5;

pub(crate) const HOUR: i64 = 3600;

/// The mailbox a mail to `address` reaches: the address as the envelope names it (`RCPT
/// TO`), without a `+tag`, lower-cased, without a trailing dot on the domain. The envelope's
/// form is lettre's: the local part is parsed as RFC 5322 words (atoms and quoted strings,
/// separated by dots) and written unquoted and unescaped, so `"bob"@x.io` and `"b\ob"@x.io`
/// go to `bob@x.io`. An address lettre cannot parse is taken as it is.
pub(crate) fn envelope_mailbox(address: &str) -> String {
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local.trim(), domain.trim()),
        None => (address.trim(), ""),
    };
    let local = unquoted_local_part(local).unwrap_or_else(|| local.to_owned());
    let local = match local.split_once('+') {
        Some((base, _tag)) if !base.is_empty() => base.to_owned(),
        _ => local,
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    format!("{local}@{domain}").to_lowercase()
}

/// `word *("." word)`, where a word is an atom (written as is) or a quoted string (without
/// its quotes, each `\x` read as `x`); `None` when `local` is not of that form.
fn unquoted_local_part(local: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = local.chars().peekable();
    loop {
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => out.push(chars.next()?),
                    c => out.push(c),
                }
            }
        } else {
            let start = out.len();
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '"' || c == '\\' || c.is_whitespace() || c.is_control() {
                    break;
                }
                out.push(c);
                chars.next();
            }
            if out.len() == start {
                return None;
            }
        }
        match chars.next() {
            None => return Some(out),
            Some('.') => out.push('.'),
            Some(_) => return None,
        }
    }
}

/// The key a mailbox's mails of `kind` are counted under: a digest, never the address.
pub(crate) fn limit_key(kind: MailKind, address: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authd mail limit\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(envelope_mailbox(address).as_bytes());
    hex::encode(hasher.finalize())
}

/// The row after one more send at `now`, or `None` when the limits refuse it.
pub(crate) fn count_send(key: &str, row: Option<&MailLimit>, now: i64) -> Option<MailLimit> {
    let mut recent: Vec<i64> = row
        .map(|row| {
            row.sent_at
                .split(',')
                .filter_map(|t| t.parse().ok())
                .filter(|&t| now - t < HOUR)
                .collect()
        })
        .unwrap_or_default();
    if recent.len() >= MAILS_PER_HOUR || recent.iter().any(|&t| now - t < MAIL_EVERY_SECS) {
        return None;
    }
    recent.push(now);
    let sent_at = recent
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Some(MailLimit {
        key_digest: key.to_owned(),
        sent_at,
        last_sent_at: now,
        version: row.map_or(0, |row| row.version) + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies sends at each of `times`; returns which went.
    fn sends(times: &[i64]) -> Vec<bool> {
        let mut row: Option<MailLimit> = None;
        times
            .iter()
            .map(|&now| match count_send("k", row.as_ref(), now) {
                Some(next) => {
                    row = Some(next);
                    true
                }
                None => false,
            })
            .collect()
    }

    #[test]
    fn one_mail_a_minute_at_most() {
        assert_eq!(sends(&[0, 30, 59, 60]), [true, false, false, true]);
    }

    #[test]
    fn five_mails_an_hour_at_most_in_any_hour() {
        let went = sends(&[0, 60, 120, 180, 240, 300, 3599, 3600, 3660]);
        assert_eq!(
            went,
            [true, true, true, true, true, false, false, true, true]
        );
    }

    #[test]
    fn the_key_is_a_digest_per_kind() {
        // `printf 'authd mail limit\0password_reset\0bob@x.io' | sha256sum`: the digest and
        // nothing else (a hex digest can never contain "bob", so that was no test).
        let key = limit_key(MailKind::PasswordReset, "bob@x.io");
        assert_eq!(
            key,
            "45ffa0f20345d7dc70b018ab467114fa09ac830d8bb934a102778da0b61931ea"
        );
        assert_ne!(key, limit_key(MailKind::EmailVerification, "bob@x.io"));
    }

    /// Stored addresses (some no longer accepted at registration, but accounts may hold them)
    /// and the mailbox the limits count them under.
    const MAILBOXES: [(&str, &str); 12] = [
        ("bob@x.io", "bob@x.io"),
        ("bob+news@x.io", "bob@x.io"),
        ("bob+a+b@x.io", "bob@x.io"),
        ("\"bob\"@x.io", "bob@x.io"),
        ("\"b\\ob\"@x.io", "bob@x.io"),
        ("\"bob+x\"@x.io", "bob@x.io"),
        ("\"bo\".\"b\"@x.io", "bo.b@x.io"),
        ("bob@x.io.", "bob@x.io"),
        ("bo.b@x.io", "bo.b@x.io"),
        ("+tag@x.io", "+tag@x.io"),
        ("\"\"@x.io", "@x.io"),
        ("ann@y.io", "ann@y.io"),
    ];

    #[test]
    fn the_limits_count_the_mailbox_the_envelope_names_without_its_tag() {
        for (stored, mailbox) in MAILBOXES {
            assert_eq!(envelope_mailbox(stored), mailbox, "{stored}");
        }
        let bob = limit_key(MailKind::PasswordReset, "bob@x.io");
        for stored in [
            "bob+news@x.io",
            "\"bob\"@x.io",
            "\"b\\ob\"@x.io",
            "bob@x.io.",
        ] {
            assert_eq!(limit_key(MailKind::PasswordReset, stored), bob, "{stored}");
        }
        assert_ne!(limit_key(MailKind::PasswordReset, "ann@y.io"), bob);
    }

    /// What the limits call the mailbox is what lettre writes in `RCPT TO` (less the tag), for
    /// every stored form lettre can send to at all.
    #[cfg(feature = "smtp")]
    #[test]
    fn the_mailbox_is_the_one_lettre_puts_in_the_envelope() {
        let mut checked = Vec::new();
        for (stored, _) in MAILBOXES {
            let Ok(parsed) = stored.parse::<lettre::message::Mailbox>() else {
                continue;
            };
            checked.push(stored);
            let envelope = lettre::address::Envelope::new(None, vec![parsed.email]).unwrap();
            let rcpt_to = envelope.to()[0].to_string();
            assert_eq!(
                envelope_mailbox(&rcpt_to),
                envelope_mailbox(stored),
                "{stored}"
            );
            let (local, _) = rcpt_to.rsplit_once('@').unwrap();
            assert!(
                !local.contains('"') && !local.contains('\\'),
                "{stored}: lettre wrote {rcpt_to}"
            );
        }
        for quoted in ["\"bob\"@x.io", "\"b\\ob\"@x.io", "\"bob+x\"@x.io"] {
            assert!(checked.contains(&quoted), "lettre refused {quoted}");
        }
    }
}
