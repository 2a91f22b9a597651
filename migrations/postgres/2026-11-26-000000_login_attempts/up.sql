-- Login attempts per submitted address, whether an account has it or not, so an unknown
-- address is throttled (and costs the same writes) exactly like a known one. The address is
-- kept only as a SHA-256 digest of its normalised form. `failures` counts consecutive
-- attempts since the last success (each counted before bcrypt runs); `version` goes up on
-- every write, so a write can state what it read. The old per-user counters in `users` stay
-- (nothing is dropped) but are no longer used.
CREATE TABLE login_attempts (
    address_digest  TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL,
    locked_until    BIGINT,
    last_attempt_at BIGINT  NOT NULL,
    version         BIGINT  NOT NULL
);
-- For the sweep that forgets addresses nobody has tried for a while.
CREATE INDEX login_attempts_last_attempt_at ON login_attempts (last_attempt_at);
