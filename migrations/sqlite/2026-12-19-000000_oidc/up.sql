-- Sign-in through outside OpenID Connect providers, in two tables of their own; nothing of
-- `users` changes (an account made through a provider holds a password hash no password
-- matches, `!`, until a reset sets one).
--
-- oidc_identities: one row per account connected to a provider: the provider's id (as
-- configured, e.g. `google`) and its subject (`sub`, stable per provider), unique together,
-- so one person at a provider is at most one account here; an account connects each provider
-- at most once. `email` is the address the provider gave when it was connected (shown to the
-- owner, never used to sign in). Times are Unix seconds.
--
-- oidc_logins: one row per sign-in or connection begun and not yet back from the provider.
-- `state_digest` is the SHA-256 of the `state` sent to the provider; `visitor_digest` the
-- SHA-256 of the visitor cookie that began it (the callback must come with the same cookie).
-- No secret is stored: the PKCE verifier and the nonce are derived from the visitor cookie and
-- the state, which only the browser that began holds together. A connection names the
-- account and the public id of the session that asked. `return_to` is where the person goes
-- afterwards (checked again when used). Taken once (a DELETE) by whichever instance gets the
-- callback; expired rows (10 minutes) are deleted as new ones begin.
--
-- Every row goes with its account (ON DELETE CASCADE).
CREATE TABLE oidc_identities (
    provider     TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        TEXT,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX oidc_identities_user_provider_key ON oidc_identities (user_id, provider);

CREATE TABLE oidc_logins (
    state_digest   TEXT    PRIMARY KEY,
    provider       TEXT    NOT NULL,
    visitor_digest TEXT    NOT NULL,
    user_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT,
    return_to      TEXT,
    expires_at     BIGINT  NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
