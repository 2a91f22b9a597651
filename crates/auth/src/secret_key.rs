//! The master key and what it encrypts: two-factor secrets at rest are AES-256-GCM
//! ciphertext under a key HKDF-SHA256 derives from the master key for that one purpose, with a
//! random 96-bit nonce per encryption and the row's user id as associated data. Each row names
//! its master key by a fingerprint, so an old key can still read what it wrote while a new one
//! takes over (rotation), and the database keeps a check value per key, so a wrong key is an
//! error at start rather than at someone's sign-in.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use db::{Sealed, SecretKeyCheck, UserId};
use hkdf::Hkdf;
use sha2_next::Sha256;

use crate::error::AuthError;

/// What HKDF's `info` says for the key that encrypts TOTP secrets.
const TOTP_PURPOSE: &[u8] = b"authd totp secret v1";
/// ... and for a key's public fingerprint.
const FINGERPRINT_PURPOSE: &[u8] = b"authd key id v1";
/// The text each key's check value encrypts.
const CHECK_TEXT: &[u8] = b"authd secret key check v1";

/// A master key: 32 random bytes. Build it with [`SecretKey::generate`], read it from a file
/// with [`SecretKey::read`] (64 hex characters, as [`SecretKey::load_or_create`] writes it),
/// or give its bytes. Its `Debug` shows only its fingerprint.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}..)", self.id())
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

/// Why a key file could not be used. Never holds the key.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file holds something other than a key.
    #[error("{0}: not a key (64 hex characters, optionally followed by a newline)")]
    Malformed(String),
    /// The system's random source failed.
    #[error("no random bytes from the system: {0}")]
    Random(String),
}

impl SecretKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey { bytes }
    }

    /// A fresh random key from the system's random source.
    ///
    /// Errors: `Random` when the system has none.
    pub fn generate() -> Result<Self, SecretKeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SecretKeyError::Random(e.to_string()))?;
        Ok(SecretKey { bytes })
    }

    /// The key in a key file's text: 64 hex characters (either case), with surrounding white
    /// space (a final newline) ignored; or exactly 32 raw bytes.
    ///
    /// Errors: `Malformed` (naming `path` only).
    pub fn parse(contents: &[u8], path: &str) -> Result<Self, SecretKeyError> {
        if let Ok(bytes) = <[u8; 32]>::try_from(contents) {
            if !contents.iter().all(|b| b.is_ascii_hexdigit()) {
                return Ok(SecretKey { bytes });
            }
        }
        let malformed = || SecretKeyError::Malformed(path.to_owned());
        let text = std::str::from_utf8(contents)
            .map_err(|_| malformed())?
            .trim();
        let decoded = hex::decode(text).map_err(|_| malformed())?;
        let bytes = <[u8; 32]>::try_from(decoded.as_slice()).map_err(|_| malformed())?;
        Ok(SecretKey { bytes })
    }

    /// Reads the key file at `path` (see [`SecretKey::parse`]).
    ///
    /// Errors: `Io`, `Malformed`.
    pub fn read(path: &Path) -> Result<Self, SecretKeyError> {
        let contents = std::fs::read(path).map_err(|source| SecretKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&contents, &path.display().to_string())
    }

    /// Reads the key file at `path`, or creates it with a fresh random key (64 hex characters
    /// and a newline, mode 0600, written and synced before it is used) when there is none.
    /// Returns the key and whether the file was created. Two processes creating it at once
    /// end up with the same key: only one creation wins, the other reads it.
    ///
    /// Errors: `Io`, `Malformed`, `Random`.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretKeyError> {
        let io = |source| SecretKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let key = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let mut text = hex::encode(key.bytes);
                text.push('\n');
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Written by another process that is still writing it: wait a moment for it.
                for _ in 0..50 {
                    match Self::read(path) {
                        Err(SecretKeyError::Malformed(_)) => {
                            std::thread::sleep(std::time::Duration::from_millis(20))
                        }
                        other => return other.map(|key| (key, false)),
                    }
                }
                Self::read(path).map(|key| (key, false))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key's fingerprint (16 hex characters, from HKDF: it reveals nothing of the key),
    /// stored beside what the key encrypted.
    pub fn id(&self) -> String {
        hex::encode(derive::<8>(&self.bytes, FINGERPRINT_PURPOSE))
    }
}

/// HKDF-SHA256 of `master` for `info`, `N` bytes.
fn derive<const N: usize>(master: &[u8; 32], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    // N is at most 32 here, far below HKDF-SHA256's 8160-byte limit.
    let _ = Hkdf::<Sha256>::new(None, master).expand(info, &mut out);
    out
}

/// A master key's purpose key for TOTP secrets, and the key's fingerprint.
#[derive(Clone)]
struct PurposeKey {
    id: String,
    cipher: Aes256Gcm,
}

impl PurposeKey {
    fn of(key: &SecretKey) -> Self {
        let derived = derive::<32>(&key.bytes, TOTP_PURPOSE);
        PurposeKey {
            id: key.id(),
            cipher: Aes256Gcm::new(&derived.into()),
        }
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, AuthError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|e| AuthError::Config(format!("no random bytes from the system: {e}")))?;
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| AuthError::SecretUnreadable)?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        })
    }

    fn open(&self, sealed: &Sealed, aad: &[u8]) -> Option<Vec<u8>> {
        let nonce: [u8; 12] = hex::decode(&sealed.nonce).ok()?.try_into().ok()?;
        let ciphertext = hex::decode(&sealed.ciphertext).ok()?;
        self.cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

/// The associated data of user `user_id`'s TOTP secret under key `key_id`: a ciphertext
/// copied to another user's row does not decrypt there.
fn totp_aad(user_id: UserId, key_id: &str) -> Vec<u8> {
    format!("authd totp secret v1\0user {user_id}\0key {key_id}").into_bytes()
}

fn check_aad(key_id: &str) -> Vec<u8> {
    format!("authd secret key check v1\0key {key_id}").into_bytes()
}

/// The keys in force: the current one encrypts; an old one (during a rotation) still decrypts
/// what it wrote.
#[derive(Clone)]
pub(crate) struct Keyring {
    current: PurposeKey,
    old: Option<PurposeKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("old", &self.old.as_ref().map(|k| &k.id))
            .finish()
    }
}

/// A TOTP secret as read from its row: the bytes, and whether they were under the old key
/// (so the row is to be encrypted again under the current one).
pub(crate) struct Opened {
    pub(crate) secret: Vec<u8>,
    pub(crate) under_old_key: bool,
}

impl Keyring {
    pub(crate) fn new(current: &SecretKey, old: Option<&SecretKey>) -> Self {
        Keyring {
            current: PurposeKey::of(current),
            old: old.filter(|old| *old != current).map(PurposeKey::of),
        }
    }

    /// The current key's fingerprint.
    pub(crate) fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts user `user_id`'s TOTP secret under the current key.
    pub(crate) fn seal_totp(&self, user_id: UserId, secret: &[u8]) -> Result<Sealed, AuthError> {
        self.current
            .seal(secret, &totp_aad(user_id, &self.current.id))
    }

    /// Decrypts user `user_id`'s TOTP secret.
    ///
    /// Errors: `SecretUnreadable` when no key in force wrote it, or it is not `user_id`'s, or
    /// it was altered.
    pub(crate) fn open_totp(&self, user_id: UserId, sealed: &Sealed) -> Result<Opened, AuthError> {
        let (key, under_old_key) = if sealed.key_id == self.current.id {
            (&self.current, false)
        } else {
            match &self.old {
                Some(old) if sealed.key_id == old.id => (old, true),
                _ => return Err(AuthError::SecretUnreadable),
            }
        };
        let secret = key
            .open(sealed, &totp_aad(user_id, &sealed.key_id))
            .ok_or(AuthError::SecretUnreadable)?;
        Ok(Opened {
            secret,
            under_old_key,
        })
    }

    /// The current key's check value, to store.
    pub(crate) fn check_value(&self) -> Result<Sealed, AuthError> {
        self.current.seal(CHECK_TEXT, &check_aad(&self.current.id))
    }

    /// Whether `check` is a key in force's check value and decrypts under it: `None` when it
    /// is of no key in force.
    pub(crate) fn verifies(&self, check: &SecretKeyCheck) -> Option<bool> {
        let key = [Some(&self.current), self.old.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == check.key_id)?;
        Some(
            key.open(&check.sealed(), &check_aad(&key.id))
                .is_some_and(|text| text == CHECK_TEXT),
        )
    }

    /// Whether `key_id` is a key in force.
    pub(crate) fn knows(&self, key_id: &str) -> bool {
        key_id == self.current.id || self.old.as_ref().is_some_and(|old| old.id == key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_secret_encrypted_for_a_user_decrypts_for_that_user_only() {
        let keys = Keyring::new(&key(1), None);
        let sealed = keys.seal_totp(7, b"twenty bytes secret!").unwrap();
        assert_eq!(sealed.key_id, key(1).id());
        assert_eq!(sealed.nonce.len(), 24);
        let opened = keys.open_totp(7, &sealed).unwrap();
        assert_eq!(opened.secret, b"twenty bytes secret!");
        assert!(!opened.under_old_key);
        // Copied to another user's row: the associated data differs.
        assert!(matches!(
            keys.open_totp(8, &sealed),
            Err(AuthError::SecretUnreadable)
        ));
    }

    #[test]
    fn each_encryption_draws_a_new_nonce() {
        let keys = Keyring::new(&key(1), None);
        let a = keys.seal_totp(7, b"same").unwrap();
        let b = keys.seal_totp(7, b"same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_wrong_key_or_an_altered_ciphertext_does_not_decrypt() {
        let sealed = Keyring::new(&key(1), None).seal_totp(7, b"secret").unwrap();
        // Another key that claims the same fingerprint still fails the tag.
        let wrong = Keyring::new(&key(2), None);
        let relabelled = Sealed {
            key_id: wrong.current_id().to_owned(),
            ..sealed.clone()
        };
        assert!(wrong.open_totp(7, &relabelled).is_err());
        assert!(wrong.open_totp(7, &sealed).is_err());
        let mut altered = sealed.clone();
        let flipped = if altered.ciphertext.starts_with('0') {
            "1"
        } else {
            "0"
        };
        altered.ciphertext.replace_range(0..1, flipped);
        assert!(Keyring::new(&key(1), None).open_totp(7, &altered).is_err());
    }

    #[test]
    fn during_a_rotation_the_old_key_still_reads_what_it_wrote() {
        let sealed = Keyring::new(&key(1), None).seal_totp(7, b"secret").unwrap();
        let rotating = Keyring::new(&key(2), Some(&key(1)));
        let opened = rotating.open_totp(7, &sealed).unwrap();
        assert_eq!(opened.secret, b"secret");
        assert!(opened.under_old_key);
        assert_eq!(
            rotating.seal_totp(7, b"secret").unwrap().key_id,
            key(2).id()
        );
    }

    #[test]
    fn a_check_value_verifies_under_its_own_key_only() {
        let keys = Keyring::new(&key(1), None);
        let sealed = keys.check_value().unwrap();
        let check = SecretKeyCheck {
            key_id: sealed.key_id,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
            created_at: 0,
        };
        assert_eq!(keys.verifies(&check), Some(true));
        assert_eq!(Keyring::new(&key(2), None).verifies(&check), None);
        assert_eq!(
            Keyring::new(&key(2), Some(&key(1))).verifies(&check),
            Some(true)
        );
    }

    #[test]
    fn a_key_file_is_64_hex_characters_or_32_raw_bytes() {
        let hex_text = format!("{}\n", "ab".repeat(32));
        assert_eq!(
            SecretKey::parse(hex_text.as_bytes(), "k").unwrap().bytes,
            [0xab; 32]
        );
        assert_eq!(SecretKey::parse(&[7u8; 32], "k").unwrap().bytes, [7; 32]);
        for bad in [&b""[..], b"abc", &[b'a'; 63], &[b'z'; 64], &[1u8; 31]] {
            assert!(
                matches!(
                    SecretKey::parse(bad, "k"),
                    Err(SecretKeyError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_created_key_file_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db.key");
        let (created, new) = SecretKey::load_or_create(&path).unwrap();
        assert!(new);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        let (again, new) = SecretKey::load_or_create(&path).unwrap();
        assert!(!new);
        assert_eq!(again.bytes, created.bytes);
        assert_eq!(
            format!("{again:?}"),
            format!("SecretKey({}..)", created.id())
        );
    }
}
