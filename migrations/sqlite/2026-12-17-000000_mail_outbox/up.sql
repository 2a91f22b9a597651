-- The outbox: mail waiting to be sent, one row per mail, kept across restarts and shared by
-- every instance on this database. A row holds what to send and to whom, never a body or a
-- token: a reset or verification token is made (and its digest written to `users`) by the
-- instance that claims the row, just before it sends, so the database never holds a token
-- in clear.
--
-- kind: password_reset, password_changed or email_verification. recipient: the address the
-- mail goes to, as normalised (for a reset or a resend, the address that was asked for; the
-- sender looks up the account when it claims the row). user_id: the account, when it was
-- known at queueing. created_at: Unix seconds (authd's clock) when the mail was asked for.
-- due_at: Unix milliseconds from when it may be tried. tries, first_try_at (Unix ms): for
-- the retries and the give-up time. claimed_by / claimed_until (Unix ms): the instance that
-- is sending it and until when its claim holds; an expired claim (a crashed instance) may be
-- taken by another. version goes up on every write, so every write states what it read.
CREATE TABLE mail_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    user_id       INTEGER,
    created_at    BIGINT  NOT NULL,
    due_at        BIGINT  NOT NULL,
    tries         INTEGER NOT NULL DEFAULT 0,
    first_try_at  BIGINT,
    claimed_by    TEXT,
    claimed_until BIGINT,
    version       BIGINT  NOT NULL DEFAULT 0
);
-- For the senders' "what is due" query.
CREATE INDEX mail_outbox_due_at ON mail_outbox (due_at);
