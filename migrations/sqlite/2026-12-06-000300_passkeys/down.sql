-- The passkeys go with their tables: their accounts keep their passwords.
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
DROP TABLE passkey_users;
