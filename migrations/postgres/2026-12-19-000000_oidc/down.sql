-- The providers' connections go with their tables; accounts made through a provider stay
-- (without a password they can use until a reset sets one).
DROP TABLE oidc_logins;
DROP TABLE oidc_identities;
