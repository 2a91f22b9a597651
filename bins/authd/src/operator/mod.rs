//! The operator's commands, `authd users …` and `authd audit` (and `backup`/`restore`, in
//! `backup.rs`, on the database's file): the admin operations of `auth`
//! on the configured database, through a handle acting as `cli` (every change is in the audit
//! log with that actor). Results go to standard output, one line each; a failure is one line
//! on standard error and its exit code: 1 when no account has the address (or the change
//! could not be made), 2 for bad usage.

mod audit;
pub mod backup;
pub mod dates;
mod output;
pub mod settings_file;
mod terminal;
mod users;

use std::io;
use std::process::ExitCode;

use auth::{Actor, Auth, AuthError, DbOptions, RequestContext};

use crate::config::{Command, UsersCommand};

/// Why a command did not finish.
#[derive(Debug)]
pub enum Failure {
    /// No account has the address given: exit 1.
    NotFound(String),
    /// Bad usage (a missing `--yes`, an empty password, a password refused by the policy):
    /// exit 2, and nothing changed.
    Usage(String),
    /// The change was not made (an address already taken, a deletion not confirmed): exit 1.
    Failed(String),
    /// Standard output could not be written.
    Output(io::Error),
    /// Any other error of `auth` (the database unavailable…): the binary's exit code for it.
    Auth(AuthError),
    /// Ctrl-C at a prompt: exit 130, as a shell reports a command ended by it.
    Cancelled,
}

impl Failure {
    /// Says why on standard error (one line) and answers the exit code; `Auth` errors are
    /// the caller's to report (as for any command).
    pub fn exit(self) -> ExitCode {
        let (code, text) = match self {
            Failure::NotFound(text) | Failure::Failed(text) => (1, text),
            Failure::Usage(text) => (2, text),
            // The reader went away (`authd users list | head`): nothing more to say.
            Failure::Output(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                return ExitCode::SUCCESS
            }
            Failure::Output(error) => (1, format!("cannot write the output: {error}")),
            Failure::Auth(error) => (1, error.to_string()),
            Failure::Cancelled => (130, "cancelled".to_owned()),
        };
        eprintln!("authd: {text}");
        ExitCode::from(code)
    }
}

/// What a command needs from the person running it, read before the database is opened, so
/// that bad usage changes nothing.
#[derive(Debug, Default)]
pub struct Input {
    /// `users create`: the new password; `None` with `--no-password`.
    password: Option<String>,
}

/// Whether `command` is one of the operator's (its log is quieter: errors only, unless
/// `RUST_LOG` says otherwise).
pub fn is_operator(command: Option<&Command>) -> bool {
    matches!(
        command,
        Some(Command::Users(_) | Command::Audit(_) | Command::Backup(_) | Command::Restore(_))
    )
}

/// Reads what `command` needs from standard input, and refuses usage that cannot work:
/// - `users create`: the password piped in (one line), or asked for twice on a terminal; an
///   empty input needs `--no-password` (and `--no-password` an empty input);
/// - `users delete` without a terminal to confirm on needs `--yes`.
pub fn read_input(command: Option<&Command>) -> Result<Input, Failure> {
    match command {
        Some(Command::Users(UsersCommand::Create(args))) => {
            let password = if terminal::stdin_is_terminal() {
                (!args.no_password)
                    .then(terminal::prompted_password)
                    .transpose()?
            } else {
                match (terminal::piped_password()?, args.no_password) {
                    (Some(password), false) => Some(password),
                    (None, true) => None,
                    (None, false) => {
                        return Err(Failure::Usage(
                            "no password on standard input (pipe one in, or pass \
                             --no-password for an account entered through a reset link)"
                                .into(),
                        ))
                    }
                    (Some(_), true) => {
                        return Err(Failure::Usage(
                            "a password on standard input and --no-password: give one or \
                             the other"
                                .into(),
                        ))
                    }
                }
            };
            Ok(Input { password })
        }
        Some(Command::Users(UsersCommand::Delete(args)))
            if !args.yes && !terminal::stdin_is_terminal() =>
        {
            Err(Failure::Usage(
                "no terminal to confirm the deletion on: pass --yes".into(),
            ))
        }
        _ => Ok(Input::default()),
    }
}

/// Runs `authd backup` or `authd restore`, which work on the database's file without `Auth`;
/// `None` for the other commands.
pub fn run_on_file(command: Option<&Command>, options: &DbOptions) -> Option<Result<(), Failure>> {
    match command {
        Some(Command::Backup(args)) => Some(backup::backup(args, options)),
        Some(Command::Restore(args)) => Some(backup::restore(args, options)),
        _ => None,
    }
}

/// Runs the operator's `command` on `auth`, acting as `cli`. Other commands do nothing.
pub fn run(auth: &Auth, command: Command, input: Input) -> Result<(), Failure> {
    let auth = auth.acting(RequestContext::of(Actor::Cli));
    let mut out = output::Output::stdout();
    match command {
        Command::Users(command) => users::run(&auth, command, input, &mut out)?,
        Command::Audit(args) => audit::run(&auth, &args, &mut out)?,
        _ => {}
    }
    out.flush()
}
