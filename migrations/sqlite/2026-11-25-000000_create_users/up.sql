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
-- Unique: digests of 122-bit random tokens never repeat (NULLs may), and saying so lets the
-- planner pick these indexes for the ORDER BY id LIMIT 1 lookups even before any ANALYZE.
CREATE UNIQUE INDEX users_session_id_key ON users (session_id);
CREATE UNIQUE INDEX users_reset_token_key ON users (reset_token);
