DROP TABLE mail_limits;
DROP INDEX users_verify_token_key;
ALTER TABLE users DROP COLUMN verify_expires_at;
ALTER TABLE users DROP COLUMN verify_token;
ALTER TABLE users DROP COLUMN email_verified_at;
