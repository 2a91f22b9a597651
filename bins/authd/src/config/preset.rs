//! `--preset product`: what a public product wants, one flag. Each setting it makes can still
//! be set on its own (a flag, the environment or the config file wins), and `authd config
//! show` names the preset beside each. The classic contract stays the default.

use clap::{ArgMatches, ValueEnum};

/// A set of settings for a kind of deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The classic contract: every setting at its default (the same as no preset).
    Classic,
    /// A public product: 10 sessions per account, the NIST password policy, confirmed
    /// addresses when mail is on, `Secure` cookies when --public-url is https, and reset tokens
    /// in no API answer.
    Product,
}

impl Preset {
    /// Its name, as `--preset` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Classic => "classic",
            Preset::Product => "product",
        }
    }
}

/// The settings `preset` makes, by flag id, as command-line arguments; `matches` (the flags,
/// the environment and the file) decide the ones that depend on others.
pub fn settings(preset: Preset, matches: &ArgMatches) -> Vec<(&'static str, String)> {
    if preset == Preset::Classic {
        return Vec::new();
    }
    let mail = matches.get_one::<String>("smtp_url").is_some();
    let https = matches
        .get_one::<String>("public_url")
        .is_some_and(|url| url.trim().starts_with("https://"));
    let mut settings = vec![
        (
            "max_sessions_per_user",
            "--max-sessions-per-user=10".to_owned(),
        ),
        ("password_policy", "--password-policy=nist".to_owned()),
        (
            "reset_token_in_answer",
            "--reset-token-in-answer=false".to_owned(),
        ),
    ];
    if mail {
        settings.push((
            "require_verified_email",
            "--require-verified-email=true".to_owned(),
        ));
    }
    if https {
        settings.push(("cookie_secure", "--cookie-secure=true".to_owned()));
    }
    settings
}

#[cfg(test)]
mod tests {
    use auth::{AuthConfig, Mail, MailConfig, MailTransport, Outbox, OutboxOptions, SendError};

    use super::super::{load, Cli};

    /// The settings of `args` as `main` reads them: with the config file and the preset.
    fn parse(args: &[&str]) -> Cli {
        let args = std::iter::once("authd").chain(args.iter().copied());
        load(args.map(Into::into).collect())
            .unwrap_or_else(|error| panic!("{error:?}"))
            .cli
    }

    struct Nowhere;

    impl MailTransport for Nowhere {
        fn send(&self, _: &Mail) -> Result<(), SendError> {
            Ok(())
        }
    }

    #[test]
    fn the_product_preset_sets_what_auth_config_product_sets() {
        let cli = parse(&["--preset", "product"]);
        let server = cli.settings().1;
        let library = AuthConfig::product();
        // `Debug` shows every setting but `reset_token_in_answer` (and the clock).
        assert_eq!(format!("{server:?}"), format!("{library:?}"));
        assert_eq!(server.reset_token_in_answer, library.reset_token_in_answer);
        assert!(!cli.mail.require_verified_email);
        assert!(!library.require_verified_email);
    }

    #[test]
    fn with_mail_the_product_preset_requires_confirmed_addresses_as_product_with_mail_does() {
        let cli = parse(&["--preset", "product", "--smtp-url", "smtp://localhost:25"]);
        assert!(cli.mail.require_verified_email);
        let mut options = OutboxOptions::default();
        options.senders = 0;
        let mail = MailConfig::new(Outbox::start(Nowhere, options), "https://authd.test/");
        let library = AuthConfig::product_with_mail(mail);
        assert!(library.require_verified_email);
        let server = cli.settings().1;
        assert_eq!(
            (server.max_sessions_per_user, &server.password_policy),
            (library.max_sessions_per_user, &library.password_policy)
        );
        assert_eq!(server.reset_token_in_answer, library.reset_token_in_answer);
    }
}
