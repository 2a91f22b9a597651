// @generated automatically by Diesel CLI (see diesel.toml to regenerate).

diesel::table! {
    /// Registered accounts.
    users (id) {
        /// Starts at 1 and goes up.
        id -> Integer,
        /// Trimmed and lower-cased; unique.
        email -> Text,
        /// A bcrypt hash (`$2b$…`, 60 characters).
        hashed_password -> Text,
        /// SHA-256 hex digest of the current session token.
        session_id -> Nullable<Text>,
        /// SHA-256 hex digest of the pending reset token.
        reset_token -> Nullable<Text>,
        /// Unix seconds after which the session is no longer valid.
        session_expires_at -> Nullable<BigInt>,
        /// Unix seconds after which the reset token is no longer valid.
        reset_expires_at -> Nullable<BigInt>,
        /// Failed logins counted in the current throttling window.
        failed_logins -> Integer,
        /// Unix seconds when the current throttling window began.
        failed_window_start -> Nullable<BigInt>,
        /// Unix seconds when the address was confirmed; NULL while it is not.
        email_verified_at -> Nullable<BigInt>,
        /// SHA-256 hex digest of the pending email-verification token.
        verify_token -> Nullable<Text>,
        /// Unix seconds after which the verification token is no longer valid.
        verify_expires_at -> Nullable<BigInt>,
        /// Unix seconds of the registration (the upgrade time for older rows).
        created_at -> Nullable<BigInt>,
        /// Unix seconds when an operator disabled the account; NULL while it is enabled.
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Security events, each written with the change it records.
    audit_events (id) {
        /// Internal key; goes up.
        id -> BigInt,
        /// Unix seconds of the event.
        at -> BigInt,
        /// snake_case name: `login_succeeded`, `password_changed`, `admin_user_disabled`, ...
        event -> Text,
        /// The account; kept after the account is deleted.
        user_id -> Nullable<Integer>,
        /// `user`, `admin`, `cli` or `system`.
        actor -> Text,
        /// The client's IP address.
        ip -> Nullable<Text>,
        /// The client's User-Agent, at most 256 characters.
        user_agent -> Nullable<Text>,
        /// The request's id.
        request_id -> Nullable<Text>,
        /// A small JSON object; never a secret.
        detail -> Text,
    }
}

diesel::table! {
    /// Login attempts per submitted address, known or not.
    login_attempts (address_digest) {
        /// SHA-256 hex digest of the normalised address; never the address.
        address_digest -> Text,
        /// Consecutive attempts since the last success, each counted before bcrypt runs.
        failures -> Integer,
        /// Unix seconds before which no attempt is evaluated.
        locked_until -> Nullable<BigInt>,
        /// Unix seconds of the latest attempt.
        last_attempt_at -> BigInt,
        /// Goes up on every write, so a write can require the row it read.
        version -> BigInt,
    }
}

diesel::table! {
    /// Mail sent per kind and address, for the rate limits.
    mail_limits (key_digest) {
        /// SHA-256 hex digest of the kind and the normalised address; never the address.
        key_digest -> Text,
        /// Unix seconds of the sends of the last hour, comma-separated, at most five.
        sent_at -> Text,
        /// Unix seconds of the latest send.
        last_sent_at -> BigInt,
        /// Goes up on every write, so a write can require the row it read.
        version -> BigInt,
    }
}

diesel::table! {
    /// Mail waiting to be sent: what to send to whom, never a body or a token.
    mail_outbox (id) {
        /// Internal key; goes up.
        id -> BigInt,
        /// `password_reset`, `password_changed` or `email_verification`.
        kind -> Text,
        /// The normalised address the mail goes to.
        recipient -> Text,
        /// The account, when known at queueing.
        user_id -> Nullable<Integer>,
        /// Unix seconds when the mail was asked for.
        created_at -> BigInt,
        /// Unix milliseconds from when it may be tried.
        due_at -> BigInt,
        /// Tries so far.
        tries -> Integer,
        /// Unix milliseconds of the first try.
        first_try_at -> Nullable<BigInt>,
        /// The instance sending it now.
        claimed_by -> Nullable<Text>,
        /// Unix milliseconds until which that claim holds.
        claimed_until -> Nullable<BigInt>,
        /// Goes up on every write, so a write can require the row it read.
        version -> BigInt,
    }
}

diesel::table! {
    /// Accounts connected to outside OpenID Connect providers.
    oidc_identities (provider, subject) {
        /// The provider's configured id (`google`, `keycloak`, ...).
        provider -> Text,
        /// The provider's subject (`sub`) for the person: stable per provider.
        subject -> Text,
        /// The account.
        user_id -> Integer,
        /// The address the provider gave when it was connected.
        email -> Nullable<Text>,
        /// Unix seconds when it was connected.
        created_at -> BigInt,
        /// Unix seconds of the latest sign-in through it.
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Sign-ins and connections through a provider, begun and not yet back.
    oidc_logins (state_digest) {
        /// SHA-256 hex digest of the `state` sent to the provider.
        state_digest -> Text,
        /// The provider's configured id.
        provider -> Text,
        /// SHA-256 hex digest of the visitor cookie that began it.
        visitor_digest -> Text,
        /// The account connecting a provider (connections only).
        user_id -> Nullable<Integer>,
        /// Public id of the session that asked (connections only).
        session_id -> Nullable<Text>,
        /// Where the person goes afterwards.
        return_to -> Nullable<Text>,
        /// Unix seconds after which it is void.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Passkey sign-in and registration ceremonies begun and not yet finished.
    passkey_ceremonies (challenge_id) {
        /// Random id (32 hex characters) the client sends back with the answer.
        challenge_id -> Text,
        /// `registration` or `authentication`.
        purpose -> Text,
        /// The account adding a passkey (registrations only).
        user_id -> Nullable<Integer>,
        /// Public id of the session that asked (registrations only).
        session_id -> Nullable<Text>,
        /// webauthn-rs's serialised ceremony state (holds the challenge).
        state -> Text,
        /// Unix seconds after which the ceremony is void.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Each account's passkey user handle.
    passkey_users (user_id) {
        /// The account.
        user_id -> Integer,
        /// Random UUID the account's passkeys carry; unique.
        user_handle -> Text,
    }
}

diesel::table! {
    /// One row per passkey.
    passkeys (id) {
        /// Internal key; never shown.
        id -> Integer,
        /// Random public name (32 hex characters).
        public_id -> Text,
        /// The owner; the row goes with it.
        user_id -> Integer,
        /// The authenticator's credential id, base64url; unique across all accounts.
        credential_id -> Text,
        /// webauthn-rs's serialised passkey: public key, sign counter, backup flags.
        passkey -> Text,
        /// The owner's name for it.
        name -> Text,
        /// Unix seconds when it was added.
        created_at -> BigInt,
        /// Unix seconds of the latest sign-in with it.
        last_used_at -> Nullable<BigInt>,
        /// Goes up on every write, so a write can require the row it read.
        version -> BigInt,
    }
}

diesel::table! {
    /// One row per signed-in device.
    sessions (id) {
        /// Internal key; never shown.
        id -> Integer,
        /// Random public name of the session (32 hex characters); unrelated to the token.
        public_id -> Text,
        /// SHA-256 hex digest of the session token; unique.
        token_digest -> Text,
        /// The owner; the row goes with it.
        user_id -> Integer,
        /// Unix seconds of the login.
        created_at -> BigInt,
        /// Unix seconds of the latest use, written at most once a minute.
        last_seen_at -> BigInt,
        /// Unix seconds after which the session is no longer valid.
        expires_at -> BigInt,
        /// The client's User-Agent at login, at most 256 characters.
        user_agent -> Nullable<Text>,
        /// The client's IP address at login.
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    /// Each account's authenticator (TOTP): pending until confirmed, its secret encrypted.
    totp_credentials (user_id) {
        /// The account; the row goes with it.
        user_id -> Integer,
        /// Fingerprint of the master key the secret is encrypted under; never the key.
        key_id -> Text,
        /// The AES-GCM nonce (96 bits, hex).
        nonce -> Text,
        /// The AES-256-GCM ciphertext of the secret with its tag (hex); the user id is its
        /// associated data.
        ciphertext -> Text,
        /// Unix seconds of the enrolment.
        created_at -> BigInt,
        /// Unix seconds of the confirmation; NULL while the enrolment is pending.
        confirmed_at -> Nullable<BigInt>,
        /// The last time step whose code was accepted (-1: none).
        last_step -> BigInt,
        /// Goes up on every write, so a write can require the row it read.
        version -> BigInt,
    }
}

diesel::table! {
    /// Unused recovery codes, as digests.
    recovery_codes (id) {
        /// Internal key.
        id -> Integer,
        /// The account; the row goes with it.
        user_id -> Integer,
        /// SHA-256 hex digest of the normalised code; never the code.
        code_digest -> Text,
        /// Unix seconds when the code was made.
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Sign-ins waiting for their second factor.
    mfa_challenges (token_digest) {
        /// SHA-256 hex digest of the token the client holds; never the token.
        token_digest -> Text,
        /// The account; the row goes with it.
        user_id -> Integer,
        /// SHA-256 hex digest of the password hash that was verified.
        password_digest -> Text,
        /// Unix seconds of the password check.
        created_at -> BigInt,
        /// Unix seconds after which the token is dead.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// A check value per master key that encrypted secrets here.
    secret_key_checks (key_id) {
        /// Fingerprint of the master key.
        key_id -> Text,
        /// The AES-GCM nonce (hex).
        nonce -> Text,
        /// A fixed text encrypted under the key (hex).
        ciphertext -> Text,
        /// Unix seconds when it was written.
        created_at -> BigInt,
    }
}

diesel::joinable!(oidc_identities -> users (user_id));
diesel::joinable!(oidc_logins -> users (user_id));
diesel::joinable!(passkey_ceremonies -> users (user_id));
diesel::joinable!(passkey_users -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_credentials -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(mfa_challenges -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    login_attempts,
    mail_limits,
    mail_outbox,
    oidc_identities,
    oidc_logins,
    passkey_ceremonies,
    passkey_users,
    passkeys,
    mfa_challenges,
    recovery_codes,
    secret_key_checks,
    sessions,
    totp_credentials,
    users,
);
