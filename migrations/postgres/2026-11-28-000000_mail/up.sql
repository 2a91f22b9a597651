-- Mail: email verification on users, and the per-address mail rate limits.
--
-- email_verified_at: Unix seconds when the address was confirmed; NULL while it is not.
-- Every account that exists now counts as verified (set to the time of this migration), so
-- turning --require-verified-email on never locks out existing users; authd registers new
-- accounts verified unless the flag is on. verify_token is the SHA-256 hex digest of the
-- pending verification token (never the token), verify_expires_at its expiry.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN verify_token TEXT;
ALTER TABLE users ADD COLUMN verify_expires_at BIGINT;
UPDATE users SET email_verified_at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT);
CREATE UNIQUE INDEX users_verify_token_key ON users (verify_token);

-- How often mail of one kind went to one address (known or not, so both cost the same
-- writes): key_digest is a SHA-256 digest of the kind and the normalised address, never the
-- address; sent_at the Unix seconds of the sends of the last hour, comma-separated, at most 5.
-- version goes up on every write, so a write can state what it read (several instances share
-- these limits).
CREATE TABLE mail_limits (
    key_digest   TEXT   NOT NULL PRIMARY KEY,
    sent_at      TEXT   NOT NULL,
    last_sent_at BIGINT NOT NULL,
    version      BIGINT NOT NULL
);
-- For the sweep that forgets addresses mailed over an hour ago.
CREATE INDEX mail_limits_last_sent_at ON mail_limits (last_sent_at);
