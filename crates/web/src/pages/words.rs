//! What the pages say: an error as a sentence for a person, which field it is about, and the
//! fixed notices a redirect may name.

use actix_web::http::StatusCode;
use auth::AuthError;

use super::field;
use super::view::Problem;
use crate::error::ApiError;

/// Which input of a form an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum About {
    Email,
    Password,
    NewPassword,
    /// The code of two-factor sign-in.
    Code,
    Page,
}

pub(super) fn about(error: &ApiError) -> About {
    match error {
        ApiError::MissingField("email") | ApiError::NotAString("email") => About::Email,
        ApiError::MissingField("password") | ApiError::NotAString("password") => About::Password,
        ApiError::MissingField("new_password") | ApiError::NotAString("new_password") => {
            About::NewPassword
        }
        ApiError::MissingField("code") | ApiError::NotAString("code") => About::Code,
        ApiError::Auth(e) => match e {
            AuthError::InvalidEmail(_)
            | AuthError::UserAlreadyExists(_)
            | AuthError::UnknownEmail => About::Email,
            AuthError::InvalidCredentials | AuthError::WrongPassword => About::Password,
            AuthError::PasswordTooLong
            | AuthError::PasswordTooShort(_)
            | AuthError::PasswordTooCommon
            | AuthError::PasswordContainsEmail
            | AuthError::PasswordContainsSiteName
            | AuthError::PasswordHasControlCharacter => About::NewPassword,
            AuthError::WrongCode | AuthError::CodeRequired => About::Code,
            _ => About::Page,
        },
        _ => About::Page,
    }
}

/// An error in words for a person: the API's message as a sentence, and a wait in minutes
/// or hours rather than seconds.
pub(super) fn sentence(error: &ApiError) -> String {
    if let Some(text) = provider_sentence(error) {
        return text.to_owned();
    }
    match error {
        ApiError::Auth(AuthError::EmailNotVerified) => {
            return "Your email address is not confirmed yet. Open the link in the mail we \
                    sent you, then sign in."
                .to_owned();
        }
        ApiError::Auth(AuthError::AccountDisabled) => {
            return "This account is disabled. Ask the operator of this site if you think it \
                    should not be."
                .to_owned();
        }
        ApiError::Auth(AuthError::CodeRequired) | ApiError::MissingField("code") => {
            return "Type the code your authenticator app shows, or a recovery code.".to_owned();
        }
        ApiError::Auth(AuthError::TwoFactorOff) => {
            return "Two-factor authentication is not available on this server.".to_owned();
        }
        ApiError::Auth(AuthError::TwoFactorAlreadyEnabled) => {
            return "Two-factor authentication is on already.".to_owned();
        }
        ApiError::Auth(AuthError::TwoFactorNotEnabled) => {
            return "Two-factor authentication is off already.".to_owned();
        }
        ApiError::Auth(AuthError::NoPendingEnrolment) => {
            return "This setup was replaced or has ended: start again.".to_owned();
        }
        ApiError::Auth(AuthError::UserAlreadyExists(_)) => {
            return "An account with this address exists already.".to_owned();
        }
        ApiError::Auth(AuthError::PasswordTooLong) => {
            return format!(
                "This password is too long: up to {} plain letters, digits and symbols fit, \
                 and an accented letter takes the room of 2, an emoji of 4.",
                field::MOST_LETTERS
            );
        }
        error if error.status() == StatusCode::SERVICE_UNAVAILABLE => {
            return "The service is busy or cannot reach its database just now, so nothing \
                    was changed. Try again in a moment."
                .to_owned();
        }
        error if error.status().is_server_error() => {
            return "Something went wrong on our side. Try again in a moment.".to_owned();
        }
        _ => {}
    }
    if let Some(secs) = throttle_wait(error) {
        return format!(
            "Too many attempts. Wait {} and try again.",
            human_duration(secs)
        );
    }
    let message = error.message();
    let mut text: String = message
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(message.chars().skip(1))
        .collect();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

/// What a page says for a sign-in through a provider that did not complete.
fn provider_sentence(error: &ApiError) -> Option<&'static str> {
    let ApiError::Auth(error) = error else {
        return None;
    };
    Some(match error {
        AuthError::UnknownOidcProvider => "There is no such way to sign in here.",
        AuthError::OidcUnavailable => {
            "The sign-in provider cannot be reached just now, so you are not signed in. Try \
             again in a moment, or sign in another way."
        }
        AuthError::UnknownOidcState => {
            "This sign-in was started in another browser, more than 10 minutes ago, or was used \
             already, so nothing was changed. Start again."
        }
        AuthError::OidcRefused("access_denied") => {
            "You did not allow the sign-in at the provider, so nothing was changed."
        }
        AuthError::OidcRefused(_) => {
            "The sign-in provider's answer could not be checked, so you are not signed in and \
             nothing was changed. Start again, or sign in another way."
        }
        AuthError::OidcEmailTaken => {
            "An account with this email address exists already, so the provider was not \
             connected to it. Sign in to that account the way you usually do, then connect the \
             provider on your account page."
        }
        AuthError::OidcNoVerifiedEmail => {
            "The sign-in provider did not confirm an email address for you, so no account was \
             made. Confirm your address there, or create an account here with a password."
        }
        AuthError::OidcOtherAccount => {
            "That account at the provider is connected to another account here, so it was not \
             connected to yours."
        }
        AuthError::OidcProviderInUse => {
            "Your account is connected to another account at this provider. Disconnect that \
             one first."
        }
        AuthError::UnknownIdentity => "That provider is not connected to your account.",
        AuthError::LastWayIn => {
            "This provider is the only way into your account, so it stays connected. Set a \
             password or add a passkey first."
        }
        _ => return None,
    })
}

pub(super) fn throttle_wait(error: &ApiError) -> Option<u64> {
    match error {
        ApiError::Auth(AuthError::Throttled { retry_after_secs })
        | ApiError::LoginRateExceeded { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    }
}

pub(super) fn retry_after(error: &ApiError) -> Option<u64> {
    match error {
        ApiError::Busy | ApiError::ClientBusy => Some(1),
        ApiError::MailRateExceeded { retry_after_secs } => Some(*retry_after_secs),
        ApiError::Auth(AuthError::OidcUnavailable) => Some(auth::OIDC_RETRY_SECS),
        error => throttle_wait(error),
    }
}

/// "1 second", "45 seconds", "15 minutes", "2 hours" (rounded up, so the wait is never
/// shorter than said).
pub(super) fn human_duration(secs: u64) -> String {
    let (count, unit) = match secs {
        0..=59 => (secs.max(1), "second"),
        60..=5399 => (secs.div_ceil(60), "minute"),
        _ => (secs.div_ceil(3600), "hour"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// The messages a redirect may name with `?m=`: fixed texts, so a link can show nothing else.
pub(super) fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "welcome" => "Your account is ready, and you are signed in.",
        "created" => "Your account is ready. Sign in with it.",
        "check-mail" => {
            "Your account is ready. We sent you a mail with a link to confirm your address: \
             open it, then sign in."
        }
        "signed-out" => "You are signed out.",
        "sign-in" => "Sign in to see your account.",
        "password-changed" => "Your password is changed. Your other devices are signed out.",
        "session-revoked" => "That device is signed out.",
        "session-gone" => "That device was already signed out.",
        "others-revoked" => "All your other devices are signed out.",
        "account-deleted" => "Your account is deleted.",
        "provider-connected" => "The provider is connected: you can sign in with it now.",
        "provider-disconnected" => "The provider is disconnected from your account.",
        "provider-gone" => "That provider was already disconnected.",
        "provider-last" => {
            "That provider is the only way into your account, so it stays connected. Set a \
             password or add a passkey first."
        }
        "passkey-added" => "Your passkey is added: you can sign in with it now.",
        "passkey-renamed" => "Your passkey is renamed.",
        "passkey-removed" => "That passkey is removed. Your password keeps working.",
        "passkey-last" => {
            "That passkey is the only way into your account, so it stays. Connect a sign-in \
             provider or set a password first."
        }
        "passkey-gone" => "That passkey was already removed.",
        "passkey-name" => {
            "That name cannot be used: at most 64 characters, without control or invisible \
             characters."
        }
        "two-factor-on" => {
            "Two-factor authentication is on: signing in now asks for a code from your app. \
             Your other devices are signed out."
        }
        "two-factor-off" => "Two-factor authentication is off.",
        "codes-renewed" => "Your new recovery codes are in force; the old ones no longer work.",
        "code-expired" => {
            "That sign-in was started more than 5 minutes ago, or already used. Sign in again."
        }
        "password-reset" => "Your new password is set. Sign in with it.",
        "reset-sent" => {
            "If an account has this address, a mail with a link to reset its password is on \
             its way. The link works once."
        }
        "verified" => "Your email address is confirmed.",
        "verification-sent" => {
            "If this address has an account waiting for confirmation, a new link is on its way."
        }
        "reset-limited" | "verification-limited" => {
            "No new mail was sent: at most one mail a minute, and five an hour, go to one \
             address, and this one has had its share. Check your mail (and its spam folder), \
             or try again later."
        }
        _ => return None,
    })
}

/// The problem of a form whose two new passwords differ, beside the second one.
pub(super) fn passwords_differ(field: &'static str) -> Problem {
    Problem::new(
        "The two passwords differ: type the same password twice.",
        Some(field),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_the_largest_unit_rounded_up() {
        assert_eq!(human_duration(0), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(61), "2 minutes");
        assert_eq!(human_duration(900), "15 minutes");
        assert_eq!(human_duration(7200), "2 hours");
    }

    #[test]
    fn api_messages_become_sentences() {
        let wrong = ApiError::Auth(AuthError::InvalidCredentials);
        assert_eq!(sentence(&wrong), "Wrong email or password.");
        assert_eq!(about(&wrong), About::Password);
        let throttled = ApiError::Auth(AuthError::Throttled {
            retry_after_secs: 900,
        });
        assert_eq!(
            sentence(&throttled),
            "Too many attempts. Wait 15 minutes and try again."
        );
    }

    #[test]
    fn unknown_message_codes_show_nothing() {
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(None), None);
        assert!(notice(Some("signed-out")).is_some());
    }
}
