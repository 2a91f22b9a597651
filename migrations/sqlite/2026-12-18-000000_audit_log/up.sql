-- Operators: an account can be disabled, and security events are kept in a table.
--
-- users.disabled_at: Unix seconds when an operator disabled the account; NULL while it is
-- enabled. A disabled account signs in by no means and gets no mail.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- One row per security event, written in the same transaction as the change it records.
-- at: Unix seconds. event: a snake_case name (login_succeeded, password_changed, ...).
-- user_id: the account, kept after the account is deleted (no foreign key). actor: user,
-- admin, cli or system. ip, user_agent (at most 256 characters), request_id: the request's.
-- detail: a small JSON object; never a secret, a password or a digest of one.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT  NOT NULL,
    event      TEXT    NOT NULL,
    user_id    INTEGER,
    actor      TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail     TEXT    NOT NULL DEFAULT '{}'
);
-- A person's own activity and the admin filter by account.
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
-- Retention: the oldest go first.
CREATE INDEX audit_events_at ON audit_events (at);
