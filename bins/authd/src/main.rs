//! The authd server: parses its configuration, starts logging, builds `Auth` and serves the
//! routes of the `web` crate. Nothing else lives here.

mod config;

use std::net::TcpListener;
use std::process::ExitCode;

use auth::{Auth, AuthError, DbError};
use clap::Parser;
use config::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let (db_options, auth_config, web_options) = cli.settings();
    let auth = match Auth::connect(&db_options, auth_config) {
        Ok(auth) => auth,
        Err(error) => return fail(&error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            eprintln!("authd: migrations applied");
            ExitCode::SUCCESS
        }
        Command::Check => {
            eprintln!(
                "authd: configuration valid, database reachable (nothing changed: \
                 `authd migrate` applies any pending migrations)"
            );
            ExitCode::SUCCESS
        }
        Command::Serve => match serve(
            &cli.bind,
            cli.metrics_bind.as_deref(),
            web::Authd::new(auth, web_options),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("authd: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Bad configuration exits 2 (as clap does for bad flags); an unreachable database exits 1.
fn fail(error: &AuthError) -> ExitCode {
    let mut text = error.to_string();
    if let AuthError::Storage(cause) = error {
        text = cause.to_string();
    }
    eprintln!("authd: {}", text.trim_end());
    match error {
        AuthError::Config(_)
        | AuthError::Storage(DbError::BadUrl(_) | DbError::InvalidOptions(_)) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

#[actix_web::main]
async fn serve(bind: &str, metrics_bind: Option<&str>, authd: web::Authd) -> std::io::Result<()> {
    let listen = |bind: &str| {
        TcpListener::bind(bind)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {bind}: {e}")))
    };
    let listener = listen(bind)?;
    let metrics = metrics_bind.map(listen).transpose()?;
    tracing::info!(address = %listener.local_addr()?, "authd listening");
    if let Some(metrics) = &metrics {
        tracing::info!(metrics_listener = %metrics.local_addr()?, "metrics on their own listener");
    }
    web::serve_with_metrics(listener, metrics, authd)?.await?;
    tracing::info!("authd stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
