//! `authd users …`: list, create, disable, enable, delete, revoke-sessions,
//! reset-two-factor. Accounts are named by address; each command finds the account, then
//! runs the admin operation on its id.

use auth::{AdminUser, Auth, AuthError, MAX_ADMIN_PAGE};

use crate::config::{ListArgs, UsersCommand};
use crate::operator::output::{user_header, user_json, user_row, Output};
use crate::operator::{terminal, Failure, Input};

/// Runs `command`, writing its result to `out`.
pub fn run(
    auth: &Auth,
    command: UsersCommand,
    input: Input,
    out: &mut Output,
) -> Result<(), Failure> {
    match command {
        UsersCommand::List(args) => list(auth, &args, out),
        UsersCommand::Create(args) => {
            let user = auth
                .admin_create_user(&args.email, input.password.as_deref(), args.verified)
                .map_err(refusal)?;
            let how = match input.password {
                Some(_) => "",
                None => "; no password: it is entered through a reset link",
            };
            out.line(&format!("created {} (id {}){how}", user.email, user.id))
        }
        UsersCommand::Disable(arg) => {
            let user = find(auth, &arg.email)?;
            if user.disabled {
                return out.line(&format!("{} was already disabled", named(&user)));
            }
            let user = auth.admin_set_disabled(user.id, true).map_err(refusal)?;
            out.line(&format!(
                "disabled {}: it cannot sign in, and its sessions ended",
                named(&user)
            ))
        }
        UsersCommand::Enable(arg) => {
            let user = find(auth, &arg.email)?;
            if !user.disabled {
                return out.line(&format!("{} was not disabled", named(&user)));
            }
            let user = auth.admin_set_disabled(user.id, false).map_err(refusal)?;
            out.line(&format!("enabled {}", named(&user)))
        }
        UsersCommand::Delete(args) => {
            let user = find(auth, &args.email)?;
            let question = format!(
                "Delete {} with its {} session(s), its passkeys, two-factor codes and \
                 tokens? This cannot be undone. [y/N] ",
                named(&user),
                user.sessions
            );
            // Without a terminal, `read_input` has refused a deletion without --yes.
            if !args.yes && !terminal::confirmed(&question)? {
                return Err(Failure::Failed(format!(
                    "{} not deleted (answer y to delete)",
                    user.email
                )));
            }
            auth.admin_delete_user(user.id).map_err(refusal)?;
            out.line(&format!(
                "deleted {} with its sessions, passkeys, two-factor codes and tokens",
                named(&user)
            ))
        }
        UsersCommand::RevokeSessions(arg) => {
            let user = find(auth, &arg.email)?;
            let ended = auth.admin_revoke_sessions(user.id).map_err(refusal)?;
            out.line(&format!("ended {ended} session(s) of {}", named(&user)))
        }
        UsersCommand::ResetTwoFactor(arg) => {
            let user = find(auth, &arg.email)?;
            match auth.admin_reset_two_factor(user.id) {
                Ok(()) => out.line(&format!(
                    "two-factor sign-in turned off for {}, its recovery codes removed: it \
                     signs in with its password and may set up a new authenticator",
                    named(&user)
                )),
                Err(AuthError::TwoFactorNotEnabled) => Err(Failure::Failed(format!(
                    "{} has no two-factor sign-in: nothing changed",
                    named(&user)
                ))),
                Err(error) => Err(refusal(error)),
            }
        }
    }
}

/// Every account (or `--limit` of them) matching `--email`, by id, a page at a time.
fn list(auth: &Auth, args: &ListArgs, out: &mut Output) -> Result<(), Failure> {
    if !args.json {
        out.line(&user_header())?;
    }
    let mut left = args.limit.unwrap_or(u32::MAX);
    let mut after = None;
    while left > 0 {
        let page = auth
            .admin_list_users(args.email.as_deref(), after, left.min(MAX_ADMIN_PAGE))
            .map_err(Failure::Auth)?;
        for user in &page.users {
            out.line(&if args.json {
                user_json(user)
            } else {
                user_row(user)
            })?;
        }
        left = left.saturating_sub(u32::try_from(page.users.len()).unwrap_or(u32::MAX));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        // What is printed so far shows while the next page is read.
        out.flush()?;
    }
    Ok(())
}

/// The account of `email`. Errors: `NotFound` with the address.
pub fn find(auth: &Auth, email: &str) -> Result<AdminUser, Failure> {
    auth.admin_find_user(email).map_err(|error| match error {
        AuthError::UnknownUser | AuthError::UnknownEmail => {
            Failure::NotFound(format!("no account has the address {email}"))
        }
        error => Failure::Auth(error),
    })
}

/// `bob@x.io (id 7)`.
fn named(user: &AdminUser) -> String {
    format!("{} (id {})", user.email, user.id)
}

/// An error of an admin operation: what the operator gave that cannot be used is bad usage
/// (exit 2); an account gone meanwhile is not found; an address taken is a change not made.
fn refusal(error: AuthError) -> Failure {
    match error {
        AuthError::InvalidEmail(_)
        | AuthError::PasswordTooLong
        | AuthError::PasswordHasControlCharacter
        | AuthError::PasswordTooShort(_)
        | AuthError::PasswordTooCommon
        | AuthError::PasswordContainsEmail
        | AuthError::PasswordContainsSiteName => Failure::Usage(error.to_string()),
        AuthError::UserAlreadyExists(email) => {
            Failure::Failed(format!("an account has the address {email} already"))
        }
        AuthError::UnknownUser => Failure::NotFound("the account is gone".into()),
        error => Failure::Auth(error),
    }
}
