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
