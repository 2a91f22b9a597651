-- Sessions of their own: one row per signed-in device, so an account may hold several.
-- `public_id` names a session in the API (listing, revoking); it is random and unrelated to
-- the cookie, so knowing it opens nothing. `token_digest` is the SHA-256 hex digest of the
-- cookie's token, never the token; its unique index is the lookup of every authenticated
-- request. Rows go with their user (ON DELETE CASCADE; authd also deletes them explicitly).
-- Times are Unix seconds.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id    TEXT    NOT NULL,
    token_digest TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    user_agent   TEXT,
    ip           TEXT
);
CREATE UNIQUE INDEX sessions_token_digest_key ON sessions (token_digest);
CREATE UNIQUE INDEX sessions_public_id_key ON sessions (public_id);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Every session the previous release holds in users.session_id moves here, so each cookie
-- issued before the upgrade keeps working. Expired ones too (the lookup refuses them; the
-- owner's next login deletes them): what is dead is decided at read time, by authd's clock.
-- users.session_id and session_expires_at stay (nothing is dropped): authd keeps writing the
-- newest session's digest there for instances of the previous release during an upgrade.
INSERT INTO sessions (public_id, token_digest, user_id, created_at, last_seen_at, expires_at)
SELECT lower(hex(randomblob(16))),
       session_id,
       id,
       CAST(strftime('%s', 'now') AS INTEGER),
       CAST(strftime('%s', 'now') AS INTEGER),
       COALESCE(session_expires_at, 0)
  FROM users
 WHERE session_id IS NOT NULL;
