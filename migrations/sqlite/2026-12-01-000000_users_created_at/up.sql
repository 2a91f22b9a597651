-- When each account was registered (Unix seconds). With --require-verified-email, an account
-- that has not confirmed its address within --verify-ttl of its registration no longer holds
-- that address: a registration by the mailbox's owner replaces it. Accounts that exist now
-- count from this upgrade. A row inserted by other means (the classic plain INSERT still
-- works) has NULL here and always keeps its address. Nothing is dropped.
ALTER TABLE users ADD COLUMN created_at BIGINT;
UPDATE users SET created_at = CAST(strftime('%s', 'now') AS INTEGER);
