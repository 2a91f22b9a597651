//! The authd server: parses its configuration, starts logging, builds `Auth` and serves the
//! routes of the `web` crate. Nothing else lives here.

mod config;
mod operator;
mod settings;

use std::net::TcpListener;
use std::process::ExitCode;

use std::time::Duration;

use auth::AUDIT_PRUNE_EVERY;
use auth::{Auth, AuthError, DbError, MailConfig, Outbox, SendError, SmtpMailer};
use config::{Command, ConfigCommand, LoadError, LogFormat};
use operator::Failure;

/// How long one SMTP step (connect, each command) may take before the try counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let loaded = match config::load(std::env::args_os().collect()) {
        Ok(loaded) => loaded,
        Err(LoadError::Arguments(error)) => return bad_arguments(error),
        Err(LoadError::File(error)) => {
            eprintln!("authd: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Config(which)) = &loaded.cli.command {
        // Opens nothing: the settings as parsed, each checked as its flag is.
        print!(
            "{}",
            match which {
                ConfigCommand::Example => operator::settings_file::example(),
                ConfigCommand::Show => operator::settings_file::show(&loaded),
            }
        );
        return ExitCode::SUCCESS;
    }
    let (cli, sources) = (loaded.cli, loaded.sources);
    // An operator's command logs errors only (unless RUST_LOG says more): its output, and the
    // one line that says why it failed, are what the operator reads.
    let quiet = operator::is_operator(cli.command.as_ref());
    init_logging(cli.log_format, if quiet { "error" } else { "info" });
    let mail = match cli.site().and_then(|_| cli.mail()) {
        Ok(mail) => mail,
        Err(error) => {
            eprintln!("authd: {}", sources.explain(&error));
            return ExitCode::from(2);
        }
    };
    let admin = match cli.admin() {
        Ok(admin) => admin,
        Err(error) => {
            eprintln!("authd: {}", sources.explain(&error));
            return ExitCode::from(2);
        }
    };
    if let Err(error) = cli.branding() {
        eprintln!("authd: {error}");
        return ExitCode::from(2);
    }
    let passkeys = match cli.passkeys() {
        Ok(passkeys) => passkeys,
        Err(error) => {
            eprintln!("authd: {}", sources.explain(&error));
            return ExitCode::from(2);
        }
    };
    // Each provider's secret is read here; its discovery document is fetched by `check`, and
    // by the server in the background (a provider that is down does not hold up the start).
    let oidc = match cli.oidc() {
        Ok(oidc) => oidc,
        Err(error) => {
            eprintln!("authd: {}", sources.explain(&error));
            return ExitCode::from(2);
        }
    };
    let issuers: Vec<(String, String)> = oidc
        .iter()
        .flat_map(|config| &config.providers)
        .map(|provider| (provider.id.clone(), provider.issuer.clone()))
        .collect();
    let (db_options, auth_config, web_options) = cli.settings();
    if let Some(off) = passkeys.1 {
        tracing::info!("{off}");
    }
    let mut auth_config = auth_config.with_oidc(oidc);
    auth_config.passkeys = passkeys.0;
    // `backup` and `restore` work on the database's file: no key is made, nothing migrated.
    match operator::run_on_file(cli.command.as_ref(), &db_options) {
        Some(Ok(())) => return ExitCode::SUCCESS,
        Some(Err(Failure::Auth(error))) => return fail(&error),
        Some(Err(failure)) => return failure.exit(),
        None => {}
    }
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let mut smtp = None;
    if let Some(mut mail) = mail {
        let mailer = match &mail.ca {
            Some(pem) => SmtpMailer::new_trusting(&mail.smtp, &mail.from, SMTP_TIMEOUT, pem)
                .map_err(|e| format!("--smtp-ca-file: {e}")),
            None => SmtpMailer::new(&mail.smtp, &mail.from, SMTP_TIMEOUT)
                .map_err(|e| format!("--smtp-url: {e}")),
        };
        let mailer = match mailer {
            Ok(mailer) => mailer,
            Err(error) => {
                eprintln!("authd: {}", sources.explain(&error));
                return ExitCode::from(2);
            }
        };
        // The password never reaches the log: `SmtpSettings` shows `user:..@`.
        tracing::info!(smtp = %mail.smtp, "mail through SMTP");
        if !serving {
            // `check` and `migrate` send nothing: waiting mail stays for `serve`.
            mail.outbox.senders = 0;
        }
        let mail_config =
            MailConfig::new(Outbox::start(mailer.clone(), mail.outbox), &mail.public_url)
                .with_templates(mail.templates)
                .with_site_name(&mail.site_name)
                .and_then(|config| match &mail.logo_url {
                    Some(url) => config.with_logo_url(url),
                    None => Ok(config),
                });
        auth_config.mail = match mail_config {
            Ok(config) => Some(config),
            Err(error) => {
                eprintln!("authd: {error}");
                return ExitCode::from(2);
            }
        };
        auth_config.require_verified_email = cli.mail.require_verified_email;
        smtp = Some(mailer);
    }
    // What an operator's command reads from its input, before anything is opened or made.
    let input = match operator::read_input(cli.command.as_ref()) {
        Ok(input) => input,
        Err(failure) => return failure.exit(),
    };
    // Last before opening: a key file is created (SQLite) only once every other setting is
    // known to be good.
    let keys = match cli.secret_keys(!matches!(cli.command, Some(Command::Check))) {
        Ok(keys) => keys,
        Err(error) => {
            eprintln!("authd: {}", sources.explain(&error));
            return ExitCode::from(2);
        }
    };
    auth_config.secret_key = keys.current.clone();
    auth_config.old_secret_key = keys.old.clone();
    // A server holds `<database>.lock` shared for its whole life: `authd restore` refuses
    // to replace the file under it.
    let _restore_lock = match serving
        .then(|| operator::backup::hold_while_serving(&db_options))
        .transpose()
    {
        Ok(lock) => lock,
        Err(error) => {
            eprintln!("authd: {error}");
            return ExitCode::FAILURE;
        }
    };
    let auth = match Auth::connect(&db_options, auth_config) {
        Ok(auth) => auth,
        Err(error) => {
            // A key file made by this start that failed protects nothing yet (the key is
            // recorded in the database last): a bad setting leaves nothing behind.
            if let Some(created) = &keys.created {
                let _ = std::fs::remove_file(created);
            }
            return fail(&error);
        }
    };
    if let Some(path) = &keys.created {
        tracing::info!(
            path = %path.display(),
            "created the secret key file for two-factor secrets (keep it with the database, \
             and in its backups: without it no two-factor account can sign in)"
        );
    }
    match (&keys.current, &keys.source) {
        (Some(key), Some(path)) => tracing::info!(
            path = %path.display(),
            key_id = %key.id(),
            old_key = keys.old.is_some(),
            "two-factor secrets encrypted under this key"
        ),
        (Some(_), None) => {
            tracing::info!("two-factor secrets under a key of this process only (:memory:)")
        }
        (None, _) => {
            tracing::info!("two-factor sign-in is off: no secret key (--secret-key-file)")
        }
    }

    match cli.command.clone().unwrap_or(Command::Serve) {
        // Printed above, before anything was opened.
        Command::Config(_) => ExitCode::SUCCESS,
        Command::Migrate => {
            // Each migration applied, or "no migration was pending", is logged above.
            eprintln!("authd: the database schema is up to date");
            ExitCode::SUCCESS
        }
        Command::Check => {
            eprintln!(
                "authd: configuration valid, database reachable (nothing changed: \
                 `authd migrate` applies any pending migrations)"
            );
            let relay = match smtp.map(|mailer| mailer.check()) {
                None => true,
                Some(Ok(())) => {
                    eprintln!(
                        "authd: SMTP server answers and would take mail from the sender \
                         (MAIL FROM and RCPT TO accepted, then reset: nothing was sent)"
                    );
                    true
                }
                Some(Err(why)) => {
                    eprintln!(
                        "authd: SMTP server does not answer as it should: {}",
                        why.cause()
                    );
                    false
                }
            };
            let providers = check_providers(&auth, &issuers);
            match relay && providers {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }
        }
        Command::RotateSecretKey => match auth.rotate_secret_key() {
            Ok(rotation) => {
                eprintln!(
                    "authd: {} two-factor secrets encrypted under the new key; the old key is \
                     no longer needed or accepted",
                    rotation.reencrypted
                );
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        // Done above, before anything was opened.
        Command::Backup(_) | Command::Restore(_) => ExitCode::SUCCESS,
        command @ (Command::Users(_) | Command::Audit(_)) => {
            match operator::run(&auth, command, input) {
                Ok(()) => ExitCode::SUCCESS,
                Err(Failure::Auth(error)) => fail(&error),
                Err(failure) => failure.exit(),
            }
        }
        Command::Serve => {
            if let Some(mailer) = smtp {
                check_relay_in_background(mailer);
            }
            let outbox = auth.outbox().cloned();
            // Old audit events go now and then hourly, on a thread of their own.
            let pruning = match auth.start_audit_pruning(AUDIT_PRUNE_EVERY) {
                Ok(pruning) => Some(pruning),
                Err(error) => {
                    tracing::warn!(%error, "could not start pruning the audit log");
                    None
                }
            };
            let served = serve(
                &cli.bind,
                cli.metrics_bind.as_deref(),
                admin,
                web::Authd::new(auth, web_options),
            );
            if let Some(outbox) = outbox {
                // Sends under way may finish; the rest waits in the database for the next start.
                outbox.shutdown(Duration::from_secs(cli.shutdown_grace));
            }
            drop(pruning);
            match served {
                Ok(()) => {
                    tracing::info!("authd stopped");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("authd: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Tries the relay as `authd check` does and logs the outcome, without delaying the start or
/// failing it: mail waits in the outbox until the relay takes it.
fn check_relay_in_background(mailer: SmtpMailer) {
    let checked = std::thread::Builder::new()
        .name("authd-smtp-check".into())
        .spawn(move || match mailer.check() {
            Ok(()) => tracing::info!(
                event = "smtp_check",
                outcome = "ok",
                "SMTP relay check passed: it would take mail from the sender"
            ),
            Err(SendError::Configuration(why)) => tracing::error!(
                event = "smtp_check",
                outcome = "misconfigured",
                error = %why,
                "SMTP relay check failed: mail waits in the outbox until this is fixed"
            ),
            Err(error) => tracing::warn!(
                event = "smtp_check",
                outcome = "failed",
                error = %error.cause(),
                "SMTP relay check failed: mail waits in the outbox and is retried"
            ),
        });
    if let Err(error) = checked {
        tracing::warn!(%error, "could not start the SMTP relay check");
    }
}

/// Fetches the discovery document and keys of every sign-in provider, as `authd check` does,
/// and says for each whether that worked (`issuers`: each provider's id and issuer). Whether
/// every one did.
fn check_providers(auth: &Auth, issuers: &[(String, String)]) -> bool {
    if issuers.is_empty() {
        return true;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let statuses = match runtime {
        Ok(runtime) => runtime.block_on(auth.discover_oidc()),
        Err(error) => {
            eprintln!("authd: cannot try the sign-in providers: {error}");
            return false;
        }
    };
    let mut all = true;
    for status in statuses {
        let (id, name) = (&status.id, &status.name);
        if status.ready {
            let issuer = issuers.iter().find(|(of, _)| of == id).map(|(_, url)| url);
            eprintln!(
                "authd: sign-in provider {id} ({name}): discovery document and keys fetched \
                 from {}",
                issuer.map_or("its issuer", String::as_str)
            );
        } else {
            let why = status.error.as_deref().unwrap_or("no answer");
            eprintln!("authd: sign-in provider {id} ({name}) cannot be reached: {why}");
            all = false;
        }
    }
    all
}

/// `--help` and `--version` as clap prints them; a bad flag or value exits 2 with one line on
/// stderr, as every other bad setting does (clap's own message adds a usage and a hint on
/// lines of their own).
fn bad_arguments(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        error.exit();
    }
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("authd: {first} (`authd --help` lists the flags)");
    ExitCode::from(2)
}

/// Bad configuration exits 2 (as clap does for bad flags); an unreachable database exits 1.
fn fail(error: &AuthError) -> ExitCode {
    let mut text = error.to_string();
    if let AuthError::Storage(cause) = error {
        text = cause.to_string();
    }
    // One line, whatever the driver's message holds (libpq adds "\n\tIs the server running…").
    let text: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    eprintln!("authd: {}", text.join(" "));
    match error {
        AuthError::Config(_)
        | AuthError::TwoFactorOff
        | AuthError::Storage(DbError::BadUrl(_) | DbError::InvalidOptions(_)) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// The warning of a server that hands out reset tokens on a port other machines reach.
const OPEN_RESET: &str = "authd listens beyond this machine without --smtp-url: anyone who \
    can reach this port can take over any account whose email address they know, because \
    POST /reset_password answers with the reset token itself (the classic contract) and \
    PUT /reset_password then sets a new password with it. To close it, listen on this machine \
    only (--bind 127.0.0.1:5000, the default) and let through a reverse proxy only what should \
    be public, or set --smtp-url (with --mail-from and --public-url) so that reset links go \
    only to the account's mailbox";

#[actix_web::main]
async fn serve(
    bind: &str,
    metrics_bind: Option<&str>,
    admin: Option<(String, web::AdminAccess)>,
    authd: web::Authd,
) -> std::io::Result<()> {
    let listen = |bind: &str| {
        TcpListener::bind(bind)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {bind}: {e}")))
    };
    let listener = listen(bind)?;
    let metrics = metrics_bind.map(listen).transpose()?;
    let address = listener.local_addr()?;
    // Before the line that says where authd listens, so nobody reads one without the other.
    if !address.ip().is_loopback() && !authd.auth().mail_enabled() {
        tracing::warn!("{OPEN_RESET}");
    }
    let metrics_address = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    let admin = match admin {
        Some((admin_bind, access)) => {
            let listener = listen(&admin_bind)?;
            let admin_listener = listener.local_addr()?;
            let server = web::serve_admin(listener, authd.clone(), access)?;
            Some((admin_listener, server))
        }
        None => None,
    };
    let server = web::serve_with_metrics(listener, metrics, authd)?;
    // Said once the server is set up, signal handling included.
    tracing::info!(%address, "authd listening");
    if let Some(metrics_listener) = metrics_address {
        tracing::info!(%metrics_listener, "metrics on their own listener");
    }
    let admin = admin.map(|(admin_listener, admin)| {
        tracing::info!(%admin_listener, "admin API on its own listener");
        let handle = admin.handle();
        (handle, actix_web::rt::spawn(admin))
    });
    let served = server.await;
    // The admin listener stops with the public one, its requests in flight given the grace.
    if let Some((handle, admin)) = admin {
        handle.stop(true).await;
        let _ = admin.await;
    }
    served
}

/// Logs to standard error; the level comes from `RUST_LOG`, else `default_level`.
fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // webauthn-rs logs challenges and credentials at debug and trace: kept at info whatever
    // RUST_LOG says, unless it names them itself.
    let named = std::env::var("RUST_LOG").is_ok_and(|value| value.contains("webauthn"));
    if !named {
        for directive in ["webauthn_rs_core=info", "webauthn_rs=info"] {
            if let Ok(directive) = directive.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let output = match format {
        LogFormat::Text => output.boxed(),
        LogFormat::Json => output.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(web::DemoteClientFaults(output))
        .init();
}
