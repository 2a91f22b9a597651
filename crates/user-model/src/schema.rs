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

diesel::allow_tables_to_appear_in_same_query!(login_attempts, users,);
