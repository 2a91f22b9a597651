-- Two-factor sign-in: authenticator codes (TOTP, RFC 6238), recovery codes, the token between
-- a sign-in's password and its code, and the check value of the key that encrypts the secrets.
-- Nothing here is a secret in clear. Rows go with their user (ON DELETE CASCADE). Times are
-- Unix seconds.

-- One authenticator per account: pending while confirmed_at is NULL (an enrolment not yet
-- confirmed with a code), in force once set. The secret is AES-256-GCM ciphertext (hex, tag
-- included) under a key derived from the master key named by key_id (a fingerprint, never the
-- key), with a random 96-bit nonce (hex) and the user id as associated data, so a ciphertext
-- copied to another row does not decrypt. last_step is the last time step whose code was
-- accepted (-1: none): a code for it or an earlier one is refused (RFC 6238 section 5.2), and
-- the write that accepts a code requires last_step < its step. version goes up on every write.
CREATE TABLE totp_credentials (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id       TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    ciphertext   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT  NOT NULL DEFAULT -1,
    version      BIGINT  NOT NULL DEFAULT 0
);
-- For re-encryption under a new key, and the check at start of which keys are in use.
CREATE INDEX totp_credentials_key_id ON totp_credentials (key_id);

-- An account's unused recovery codes, each only as the SHA-256 hex digest of its normalised
-- form (80 random bits: nothing to brute-force); using one deletes its row.
CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_digest TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX recovery_codes_user_id_code_digest_key ON recovery_codes (user_id, code_digest);

-- A sign-in whose password was right and whose second factor is awaited: the SHA-256 hex
-- digest of the token handed to the client (never the token), the account, a digest of the
-- password hash that was verified (a password change in between ends it), and its expiry.
-- Used once: the sign-in that completes deletes it.
CREATE TABLE mfa_challenges (
    token_digest    TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_digest TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- One row per master key that has encrypted two-factor secrets here: a fixed text encrypted
-- under the key's derived secret-encryption key, so authd can tell at start that it was given
-- the same key (a wrong key exits with a clear error rather than failing at sign-in).
CREATE TABLE secret_key_checks (
    key_id     TEXT   PRIMARY KEY,
    nonce      TEXT   NOT NULL,
    ciphertext TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
