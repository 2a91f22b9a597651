-- Passkeys (WebAuthn), in three tables of their own; nothing of `users` changes.
--
-- passkey_users: each account's user handle, the random id (a UUID, never the account's id or
-- email) that its passkeys carry and give back at a sign-in without an email. Written the
-- first time the account adds a passkey; kept after its last passkey goes, so a passkey the
-- authenticator still holds names the same account (and finds no key there).
--
-- passkeys: one row per passkey. `public_id` (32 hex characters, random) names it in the API;
-- `credential_id` (base64url) is the authenticator's id of it, unique across all accounts;
-- `passkey` is webauthn-rs's serialised credential (public key, sign counter, backup flags),
-- rewritten at each use under `version`, so every write states what it read. Times are Unix
-- seconds.
--
-- passkey_ceremonies: one row per registration or sign-in begun, holding webauthn-rs's state
-- (the challenge) until the second request of the ceremony, on any instance, deletes and uses
-- it: a challenge answers once. `purpose` is `registration` or `authentication`; a
-- registration names the account and the public id of the session that asked for it.
-- Expired rows (5 minutes) are deleted as new ceremonies begin.
--
-- Every row goes with its account (ON DELETE CASCADE).
CREATE TABLE passkey_users (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    user_handle TEXT    NOT NULL
);
CREATE UNIQUE INDEX passkey_users_user_handle_key ON passkey_users (user_handle);

CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT    NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL,
    passkey       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    version       BIGINT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE UNIQUE INDEX passkeys_public_id_key ON passkeys (public_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

CREATE TABLE passkey_ceremonies (
    challenge_id TEXT    PRIMARY KEY,
    purpose      TEXT    NOT NULL,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    session_id   TEXT,
    state        TEXT    NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
