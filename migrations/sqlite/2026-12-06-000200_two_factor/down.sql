-- Two-factor goes with these tables: accounts sign in with their password alone again.
DROP TABLE secret_key_checks;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
