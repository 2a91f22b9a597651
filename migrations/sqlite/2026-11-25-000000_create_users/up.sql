-- The classic `users` table, plus the columns authd adds (all with defaults, so a plain
-- INSERT INTO users (email, hashed_password, session_id, reset_token) still works).
-- session_id and reset_token hold SHA-256 hex digests of the secrets, never the secrets.
-- Times are Unix seconds.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT    NOT NULL,
    hashed_password     TEXT    NOT NULL,
    session_id          TEXT,
    reset_token         TEXT,
    session_expires_at  BIGINT,
    reset_expires_at    BIGINT,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    failed_window_start BIGINT
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_session_id_idx ON users (session_id);
CREATE INDEX users_reset_token_idx ON users (reset_token);
