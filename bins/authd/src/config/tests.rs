//! The flags: each reaches its setting, sits under a heading, and is checked.

use std::time::Duration;

use web::WebOptions;

use super::*;
use auth::PasswordPolicy;

use crate::settings::parse_public_url;
use operator::Since;

fn pages_with(args: &[&str]) -> bool {
    let cli = Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied())).unwrap();
    cli.settings().2.pages
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The settings of `args` as `main` reads them: with the config file and the preset.
fn parse(args: &[&str]) -> Cli {
    let args = std::iter::once("authd").chain(args.iter().copied());
    load(args.map(Into::into).collect())
        .unwrap_or_else(|error| panic!("{error:?}"))
        .cli
}

#[test]
fn the_default_bind_is_loopback_only() {
    assert_eq!(parse(&[]).bind, "127.0.0.1:5000");
}

/// Every flag, each with a value unlike its default and unlike the other flags' values, and
/// what it must set. A flag read into the wrong setting (two durations swapped, say) fails
/// its row; a flag with no row fails `every_flag_has_a_row`.
#[allow(clippy::type_complexity)]
fn flag_table() -> Vec<(&'static str, &'static [&'static str], fn(&Cli) -> bool)> {
    vec![
        ("bind", &["--bind", "127.0.0.1:5999"], |c| {
            c.bind == "127.0.0.1:5999"
        }),
        ("database-url", &["--database-url", "x.db"], |c| {
            c.settings().0.url == "x.db"
        }),
        ("bcrypt-cost", &["--bcrypt-cost", "5"], |c| {
            c.settings().1.bcrypt_cost == 5
        }),
        ("session-ttl", &["--session-ttl", "101"], |c| {
            c.settings().1.session_ttl == secs(101)
        }),
        ("reset-ttl", &["--reset-ttl", "102"], |c| {
            c.settings().1.reset_ttl == secs(102)
        }),
        (
            "min-password-length",
            &["--min-password-length", "9"],
            |c| c.settings().1.password_policy == PasswordPolicy::classic().with_min_length(9),
        ),
        ("password-policy", &["--password-policy", "nist"], |c| {
            c.settings().1.password_policy == PasswordPolicy::nist()
        }),
        (
            "refuse-common-passwords",
            &["--refuse-common-passwords"],
            |c| {
                c.settings().1.password_policy == PasswordPolicy::classic().with_refuse_common(true)
            },
        ),
        ("max-failed-logins", &["--max-failed-logins", "3"], |c| {
            c.settings().1.max_failed_logins == 3
        }),
        (
            "max-sessions-per-user",
            &["--max-sessions-per-user", "4"],
            |c| c.settings().1.max_sessions_per_user == 4,
        ),
        (
            "session-idle-timeout",
            &["--session-idle-timeout", "103"],
            |c| c.settings().1.session_idle_timeout == secs(103),
        ),
        (
            "failed-login-window",
            &["--failed-login-window", "104"],
            |c| c.settings().1.failed_login_window == secs(104),
        ),
        ("max-lockout", &["--max-lockout", "105"], |c| {
            c.settings().1.max_lockout == secs(105)
        }),
        ("login-rate-per-ip", &["--login-rate-per-ip", "6"], |c| {
            c.settings().2.login_rate_per_ip == NonZeroU32::new(6)
        }),
        (
            "trusted-proxies",
            &["--trusted-proxies", "10.0.0.0/8"],
            |c| {
                let proxies = c.settings().2.trusted_proxies;
                proxies.contains([10, 1, 2, 3].into()) && !proxies.contains([11, 0, 0, 1].into())
            },
        ),
        ("cookie-secure", &["--cookie-secure"], |c| {
            c.settings().2.cookie_secure
        }),
        ("db-schema", &["--db-schema", "authd_x"], |c| {
            c.settings().0.schema.as_deref() == Some("authd_x")
        }),
        ("db-pool-size", &["--db-pool-size", "7"], |c| {
            c.settings().0.pool_size == 7
        }),
        ("db-worker-lookups", &["--db-worker-lookups", "0"], |c| {
            c.settings().0.worker_lookups == 0
        }),
        (
            "db-connect-timeout",
            &["--db-connect-timeout", "106"],
            |c| c.settings().0.connect_timeout == secs(106),
        ),
        (
            "db-statement-timeout",
            &["--db-statement-timeout", "107"],
            |c| c.settings().0.statement_timeout == Some(secs(107)),
        ),
        ("hashing-threads", &["--hashing-threads", "3"], |c| {
            c.settings().2.hashing_threads == 3
        }),
        ("shutdown-grace", &["--shutdown-grace", "108"], |c| {
            c.settings().2.shutdown_grace == secs(108)
        }),
        ("request-timeout", &["--request-timeout", "109"], |c| {
            c.settings().2.request_timeout == secs(109)
        }),
        ("max-connections", &["--max-connections", "110"], |c| {
            c.settings().2.max_connections == 110
        }),
        (
            "max-connections-per-ip",
            &["--max-connections-per-ip", "11"],
            |c| c.settings().2.max_connections_per_ip == 11,
        ),
        ("ipv6-client-prefix", &["--ipv6-client-prefix", "56"], |c| {
            c.settings().2.ipv6_client_prefix == 56
        }),
        (
            "allowed-origins",
            &["--allowed-origins", "https://a.example,http://b.example:8"],
            |c| c.settings().2.allowed_origins == ["https://a.example", "http://b.example:8"],
        ),
        ("pages", &["--pages=false"], |c| !c.settings().2.pages),
        ("config", &["--config", "/dev/null"], |c| {
            c.config.as_deref() == Some(std::path::Path::new("/dev/null"))
        }),
        ("preset", &["--preset", "product"], |c| {
            c.settings().1.max_sessions_per_user == 10
        }),
        (
            "reset-token-in-answer",
            &["--reset-token-in-answer=false"],
            |c| !c.settings().1.reset_token_in_answer,
        ),
        ("no-pages", &["--no-pages"], |c| !c.settings().2.pages),
        ("metrics-bind", &["--metrics-bind", "127.0.0.1:9100"], |c| {
            c.metrics_bind.as_deref() == Some("127.0.0.1:9100")
        }),
        (
            "smtp-url",
            &[
                "--smtp-url",
                "smtp://mail.test:2525",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.smtp.host == "mail.test" && m.smtp.port == 2525)
            },
        ),
        (
            "mail-from",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "Ada <ada@x.io>",
                "--public-url",
                "https://a.test",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.from == "Ada <ada@x.io>")
            },
        ),
        (
            "public-url",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test/auth/",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.public_url == "https://a.test/auth")
            },
        ),
        (
            "rp-id",
            &["--public-url", "https://auth.a.test", "--rp-id", "a.test"],
            |c| {
                c.passkeys()
                    .is_ok_and(|(p, _)| p.is_some_and(|p| p.rp_id == "a.test"))
            },
        ),
        (
            "passkeys",
            &["--public-url", "https://a.test", "--passkeys=false"],
            |c| !c.passkeys && c.passkeys().is_ok_and(|p| p == (None, None)),
        ),
        (
            "no-passkeys",
            &["--public-url", "https://a.test", "--no-passkeys"],
            |c| c.no_passkeys && c.passkeys().is_ok_and(|p| p == (None, None)),
        ),
        (
            "passkey-rate-per-ip",
            &["--passkey-rate-per-ip", "7"],
            |c| c.settings().2.passkey_rate_per_ip.map(|n| n.get()) == Some(7),
        ),
        (
            "require-verified-email",
            &["--require-verified-email"],
            |c| c.mail.require_verified_email,
        ),
        ("verify-ttl", &["--verify-ttl", "111"], |c| {
            c.settings().1.verify_ttl == secs(111)
        }),
        ("mail-templates", &["--mail-templates", "/nowhere"], |c| {
            c.mail.mail_templates.as_deref() == Some(std::path::Path::new("/nowhere"))
        }),
        (
            "mail-queue-size",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--mail-queue-size",
                "112",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.outbox.capacity == 112)
            },
        ),
        (
            "mail-give-up-after",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--mail-give-up-after",
                "113",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.outbox.give_up_after == secs(113))
            },
        ),
        (
            "smtp-ca-file",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--smtp-ca-file",
                "/nowhere/ca.pem",
            ],
            |c| c.mail.smtp_ca_file.as_deref() == Some(std::path::Path::new("/nowhere/ca.pem")),
        ),
        (
            "smtp-password-file",
            &[
                "--smtp-url",
                "smtp://mailer@mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--smtp-password-file",
                "/nowhere/smtp-password",
            ],
            |c| {
                c.mail.smtp_password_file.as_deref()
                    == Some(std::path::Path::new("/nowhere/smtp-password"))
                    && c.mail()
                        .is_err_and(|e| e.contains("--smtp-password-file /nowhere"))
            },
        ),
        (
            "smtp-ehlo-name",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--smtp-ehlo-name",
                "relay-7.example.net",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| format!("{:?}", m.smtp).contains("relay-7.example.net"))
            },
        ),
        (
            "mail-senders",
            &[
                "--smtp-url",
                "smtp://mail.test",
                "--mail-from",
                "a@x.io",
                "--public-url",
                "https://a.test",
                "--mail-senders",
                "7",
            ],
            |c| {
                c.mail()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.outbox.senders == 7)
            },
        ),
        ("mail-rate-per-ip", &["--mail-rate-per-ip", "13"], |c| {
            c.settings().2.mail_rate_per_ip == NonZeroU32::new(13)
        }),
        (
            "cookie-domain",
            &[
                "--public-url",
                "https://a.example.com",
                "--cookie-domain",
                "example.com",
            ],
            |c| {
                c.settings()
                    .2
                    .site
                    .is_some_and(|site| site.cookie_domain() == Some("example.com"))
            },
        ),
        (
            "forward-auth-rule",
            &["--forward-auth-rule", "a.example.com=any"],
            |c| c.settings().2.forward_auth_rules == ["a.example.com=any".parse().unwrap()],
        ),
        ("log-format", &["--log-format", "json"], |c| {
            matches!(c.log_format, LogFormat::Json)
        }),
        // The key files are read in `main`; a missing one is an error that names its flag.
        (
            "secret-key-file",
            &["--secret-key-file", "/nowhere/k"],
            |c| {
                c.secret_keys(false)
                    .is_err_and(|e| e.starts_with("--secret-key-file /nowhere/k"))
            },
        ),
        (
            "old-secret-key-file",
            &["--old-secret-key-file", "/nowhere/old"],
            |c| {
                c.secret_keys(false)
                    .is_err_and(|e| e.starts_with("--old-secret-key-file /nowhere/old"))
            },
        ),
        (
            "admin-refusals-per-minute",
            &["--admin-refusals-per-minute", "0"],
            |c| c.admin_refusals_per_minute == 0,
        ),
        ("totp-issuer", &["--totp-issuer", "Example"], |c| {
            c.settings().1.totp_issuer == "Example"
        }),
        ("site-name", &["--site-name", "Acme"], |c| {
            let (_, auth, web) = c.settings();
            web.branding.site_name() == "Acme" && auth.totp_issuer == "Acme"
        }),
        ("accent-color", &["--accent-color", "#7b2cbf"], |c| {
            c.look.accent_color.as_deref() == Some("#7b2cbf")
        }),
        ("logo", &["--logo", "/nowhere/logo.svg"], |c| {
            c.branding()
                .is_err_and(|e| e.starts_with("--logo /nowhere/logo.svg: "))
        }),
        ("custom-css", &["--custom-css", "/nowhere/site.css"], |c| {
            c.branding()
                .is_err_and(|e| e.starts_with("--custom-css /nowhere/site.css: "))
        }),
        // The token file is read in `main` too; without --admin-bind it is refused.
        ("admin-bind", &["--admin-bind", "127.0.0.1:5998"], |c| {
            c.admin_bind.as_deref() == Some("127.0.0.1:5998")
        }),
        (
            "admin-token-file",
            &["--admin-token-file", "/nowhere/token"],
            |c| {
                c.admin()
                    .is_err_and(|e| e.starts_with("--admin-token-file needs --admin-bind"))
            },
        ),
        (
            "audit-retention-days",
            &["--audit-retention-days", "30"],
            |c| c.settings().1.audit_retention == secs(30 * 24 * 3600),
        ),
        // The providers are put together in `main` (their secret files read there).
        (
            "oidc",
            &["--public-url", "https://a.test", "--oidc", OIDC],
            |c| {
                let providers = c.oidc().ok().flatten().map(|oidc| oidc.providers);
                providers.is_some_and(|p| p[0].id == "x" && !p[0].trust_email)
            },
        ),
        (
            "oidc-trust-email",
            &[
                "--public-url=https://a.test",
                "--oidc",
                OIDC,
                "--oidc-trust-email",
                "x",
            ],
            |c| {
                let providers = c.oidc().ok().flatten().map(|oidc| oidc.providers);
                providers.is_some_and(|p| p[0].trust_email)
            },
        ),
    ]
}

/// A provider for --oidc.
const OIDC: &str = "id=x,name=X,issuer=https://x.test,client_id=c";

#[test]
fn every_flag_reaches_its_setting() {
    let defaults = parse(&[]);
    for (flag, args, holds) in flag_table() {
        let cli = parse(args);
        assert!(holds(&cli), "--{flag}: {args:?} did not reach its setting");
        // The row tests something: the defaults do not pass it already.
        if !args.contains(&"--smtp-url") {
            assert!(
                !holds(&defaults),
                "--{flag}: the row holds without the flag"
            );
        }
    }
}

#[test]
fn every_flag_has_a_row() {
    use clap::CommandFactory;
    let table: Vec<&str> = flag_table().iter().map(|(flag, _, _)| *flag).collect();
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        assert!(table.contains(&long), "--{long} has no row in flag_table");
    }
}

#[test]
fn mail_flags_without_smtp_url_are_refused_naming_the_flag() {
    // --public-url is not among them: forward-auth needs it without mail.
    for (flag, value) in [
        ("--mail-from", "a@x.io"),
        ("--require-verified-email", "true"),
        ("--mail-templates", "/nowhere"),
        ("--smtp-password-file", "/nowhere"),
        ("--smtp-ehlo-name", "relay.example.net"),
    ] {
        let arg = format!("{flag}={value}");
        let error = parse(&[&arg]).mail().err();
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains(flag) && e.contains("--smtp-url")),
            "{flag}: {error:?}"
        );
    }
}

#[test]
fn a_public_url_alone_turns_passkeys_on_for_its_host_and_origin() {
    let cli = parse(&["--public-url=http://localhost:8080/auth/"]);
    assert!(cli.mail().unwrap().is_none());
    let (passkeys, note) = cli.passkeys().unwrap();
    let passkeys = passkeys.unwrap();
    assert_eq!(passkeys.origin, "http://localhost:8080");
    assert_eq!(passkeys.rp_id, "localhost");
    assert_eq!(note, None);
    assert_eq!(parse(&[]).passkeys().unwrap(), (None, None));
}

#[test]
fn an_ip_address_public_url_leaves_passkeys_off_with_a_note_and_keeps_starting() {
    let (passkeys, note) = parse(&["--public-url=http://127.0.0.1:5000"])
        .passkeys()
        .unwrap();
    assert!(passkeys.is_none());
    assert!(note.is_some_and(|n| n.contains("IP address")), "{note:?}");
    let quiet = parse(&["--public-url=http://127.0.0.1:5000", "--no-passkeys"]);
    assert_eq!(quiet.passkeys().unwrap(), (None, None));
}

#[test]
fn a_bad_rp_id_is_refused_naming_the_flag() {
    for args in [
        &["--public-url=https://auth.a.test", "--rp-id=b.test"][..],
        &["--public-url=https://auth.a.test", "--rp-id=10.0.0.1"],
        &["--public-url=http://10.0.0.1", "--rp-id=10.0.0.1"],
        &["--rp-id=a.test"],
    ] {
        let error = parse(args).passkeys().err();
        assert!(
            error.as_deref().is_some_and(|e| e.contains("--rp-id")),
            "{args:?}: {error:?}"
        );
    }
}

#[test]
fn a_public_url_alone_is_accepted_and_names_the_site() {
    let cli = parse(&["--public-url", "https://auth.example.com/"]);
    assert!(cli.mail().unwrap().is_none());
    let site = cli.site().unwrap().unwrap();
    assert_eq!(site.public_url(), "https://auth.example.com");
    assert_eq!(site.cookie_domain(), None);
    assert_eq!(cli.settings().2.site, Some(site));
}

#[test]
fn a_cookie_domain_must_contain_the_public_urls_host() {
    let site = |args: &[&str]| parse(args).site();
    let good = site(&[
        "--public-url",
        "https://auth.example.com",
        "--cookie-domain",
        "example.com",
    ]);
    assert_eq!(good.unwrap().unwrap().cookie_domain(), Some("example.com"));
    for domain in ["com", "127.0.0.1", "localhost", "other.com", "ample.com"] {
        let error = site(&[
            "--public-url",
            "https://auth.example.com",
            "--cookie-domain",
            domain,
        ])
        .unwrap_err();
        assert!(error.starts_with("--cookie-domain"), "{domain}: {error}");
    }
    let alone = site(&["--cookie-domain", "example.com"]).unwrap_err();
    assert!(alone.contains("--public-url"), "{alone}");
}

#[test]
fn forward_auth_rules_repeat_and_refuse_what_they_do_not_know() {
    let cli = parse(&[
        "--forward-auth-rule",
        "wiki.example.com=any",
        "--forward-auth-rule",
        "*.example.com=@example.com,two-factor",
    ]);
    assert_eq!(cli.settings().2.forward_auth_rules.len(), 2);
    for bad in ["wiki.example.com", "wiki.example.com=everyone", "=any"] {
        let parsed = Cli::try_parse_from(["authd", "--forward-auth-rule", bad]);
        assert!(parsed.is_err(), "{bad}");
    }
}

#[test]
fn a_public_url_is_http_or_https_with_a_host_and_no_query() {
    assert_eq!(
        parse_public_url("https://a.test/").unwrap(),
        "https://a.test"
    );
    assert_eq!(
        parse_public_url("http://a.test:8080/auth").unwrap(),
        "http://a.test:8080/auth"
    );
    for bad in [
        "ftp://a.test",
        "a.test",
        "https://",
        "https:///path",
        "https://user@a.test",
        "https://a.test?x=1",
        "https://a.test/#top",
        "https://a test",
        "https://a.test/\"<",
    ] {
        assert!(parse_public_url(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_sqlite_database_gets_its_key_file_beside_it_and_postgresql_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let url = format!("sqlite://{}", db.display());
    let cli = parse(&["--database-url", &url]);
    // `check` creates nothing.
    assert!(cli.secret_keys(false).unwrap().current.is_none());
    let keys = cli.secret_keys(true).unwrap();
    let path = dir.path().join("users.db.key");
    assert_eq!(keys.created.as_deref(), Some(path.as_path()));
    let again = cli.secret_keys(false).unwrap();
    assert_eq!(again.current, keys.current);
    assert!(again.created.is_none());
    let pg = parse(&["--database-url", "postgres://u@h/db"]);
    assert!(pg.secret_keys(true).unwrap().current.is_none());
    assert!(parse(&["--database-url", ":memory:"])
        .secret_keys(true)
        .unwrap()
        .current
        .is_some());
    let old_alone = parse(&[
        "--database-url",
        &url,
        "--old-secret-key-file",
        path.to_str().unwrap(),
    ]);
    assert!(old_alone
        .secret_keys(true)
        .is_err_and(|e| e.contains("needs --secret-key-file")));
}

#[test]
fn help_groups_the_flags_under_headings() {
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    for heading in [
        "Listening:",
        "Database:",
        "Passwords and sessions:",
        "Sign-in throttling:",
        "Browsers and proxies:",
        "Mail:",
        "Two-factor sign-in:",
        "Admin API:",
        "Logs:",
        "Look:",
        "Sign-in providers (OpenID Connect):",
    ] {
        assert!(help.contains(heading), "no {heading:?} in\n{help}");
    }
    // Every flag sits under one of them, none is left under the catch-all.
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        assert!(arg.get_help_heading().is_some(), "--{long} has no heading");
    }
}

fn web_with(args: &[&str]) -> WebOptions {
    let cli = Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied())).unwrap();
    cli.settings().2
}

#[test]
fn the_per_address_limits_come_from_their_flags() {
    let defaults = web_with(&[]);
    assert_eq!(defaults.max_connections_per_ip, 64);
    assert_eq!(defaults.ipv6_client_prefix, 64);
    let set = web_with(&[
        "--max-connections-per-ip",
        "3",
        "--ipv6-client-prefix",
        "56",
        "--max-connections",
        "100",
    ]);
    assert_eq!(set.max_connections_per_ip, 3);
    assert_eq!(set.ipv6_client_prefix, 56);
    assert_eq!(set.max_connections, 100);
    for bad in [
        &["--max-connections-per-ip", "0"][..],
        &["--ipv6-client-prefix", "31"],
        &["--ipv6-client-prefix", "129"],
    ] {
        let args = std::iter::once("authd").chain(bad.iter().copied());
        assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
    }
}

#[test]
fn pages_are_served_unless_turned_off() {
    assert!(pages_with(&[]));
    assert!(pages_with(&["--pages"]));
    assert!(!pages_with(&["--no-pages"]));
    assert!(!pages_with(&["--pages=false"]));
    assert!(!pages_with(&["--pages=off"]));
}

fn policy_with(args: &[&str]) -> PasswordPolicy {
    parse(args).settings().1.password_policy
}

#[test]
fn the_password_policy_is_classic_unless_named() {
    assert_eq!(policy_with(&[]), PasswordPolicy::classic());
    assert_eq!(
        policy_with(&["--password-policy", "classic"]),
        PasswordPolicy::classic()
    );
    let nist = policy_with(&["--password-policy", "nist"]);
    assert_eq!((nist.min_length(false), nist.min_length(true)), (15, 8));
    assert!(nist.refuse_common && nist.refuse_email);
    assert!(Cli::try_parse_from(["authd", "--password-policy", "strong"]).is_err());
}

#[test]
fn an_explicit_length_or_blocklist_flag_wins_over_the_policy_in_either_order() {
    for args in [
        &["--password-policy", "nist", "--min-password-length", "20"][..],
        &["--min-password-length", "20", "--password-policy", "nist"],
    ] {
        let policy = policy_with(args);
        assert_eq!(
            policy,
            PasswordPolicy::nist().with_min_length(20),
            "{args:?}"
        );
        assert_eq!(
            policy.min_length(true),
            20,
            "a stated minimum is for everyone"
        );
    }
    // Lower than the preset, too: the operator said so.
    assert_eq!(
        policy_with(&["--password-policy", "nist", "--min-password-length", "8"]).min_length(false),
        8
    );
    let without_blocklist =
        policy_with(&["--password-policy=nist", "--refuse-common-passwords=false"]);
    assert!(!without_blocklist.refuse_common);
    assert_eq!(without_blocklist.min_length(false), 15);
    assert!(without_blocklist.refuse_email);
    // Under classic, each flag adds only its own rule.
    assert_eq!(
        policy_with(&["--refuse-common-passwords", "--min-password-length", "10"]),
        PasswordPolicy::classic()
            .with_refuse_common(true)
            .with_min_length(10)
    );
}

#[test]
fn the_policy_flags_have_the_environment_variables_the_readme_names() {
    use clap::CommandFactory;
    let names: Vec<(String, Option<String>)> = Cli::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            [
                "password-policy",
                "min-password-length",
                "refuse-common-passwords",
            ]
            .contains(&long)
            .then(|| {
                (
                    long.to_owned(),
                    arg.get_env().map(|e| e.to_string_lossy().into_owned()),
                )
            })
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                "password-policy".into(),
                Some("AUTHD_PASSWORD_POLICY".into())
            ),
            (
                "min-password-length".into(),
                Some("AUTHD_MIN_PASSWORD_LENGTH".into())
            ),
            (
                "refuse-common-passwords".into(),
                Some("AUTHD_REFUSE_COMMON_PASSWORDS".into())
            ),
        ]
    );
}

#[test]
fn under_nist_the_public_urls_host_names_the_site() {
    let policy = policy_with(&[
        "--password-policy",
        "nist",
        "--smtp-url",
        "smtp://mail.test",
        "--mail-from",
        "a@x.io",
        "--public-url",
        "https://login.example.com/auth/",
    ]);
    assert_eq!(policy.site_names, ["authd", "login", "example"]);
    // Under classic, the URL refuses nothing.
    let classic = policy_with(&[
        "--smtp-url",
        "smtp://mail.test",
        "--mail-from",
        "a@x.io",
        "--public-url",
        "https://login.example.com",
    ]);
    assert!(classic.site_names.is_empty());
}

fn parse_error(args: &[&str]) -> clap::Error {
    Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied()))
        .err()
        .unwrap_or_else(|| panic!("{args:?} parsed"))
}

fn users(args: &[&str]) -> UsersCommand {
    let args: Vec<&str> = ["users"].iter().chain(args).copied().collect();
    match parse(&args).command {
        Some(Command::Users(command)) => command,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn audit(args: &[&str]) -> AuditArgs {
    let args: Vec<&str> = ["audit"].iter().chain(args).copied().collect();
    match parse(&args).command {
        Some(Command::Audit(audit)) => audit,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn users_list_takes_an_address_filter_a_limit_and_json() {
    let UsersCommand::List(list) = users(&["list"]) else {
        panic!("not list")
    };
    assert_eq!((list.email, list.limit, list.json), (None, None, false));
    let UsersCommand::List(list) = users(&["list", "--email", "x.io", "--limit", "3", "--json"])
    else {
        panic!("not list")
    };
    assert_eq!(
        (list.email.as_deref(), list.limit, list.json),
        (Some("x.io"), Some(3), true)
    );
    for bad in [&["list", "--limit", "0"][..], &["list", "--email", ""]] {
        let args: Vec<&str> = ["users"].iter().chain(bad).copied().collect();
        assert_eq!(parse_error(&args).exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn users_create_takes_an_address_and_flags_but_no_password() {
    let UsersCommand::Create(create) = users(&["create", "ann@x.io"]) else {
        panic!("not create")
    };
    assert_eq!(create.email, "ann@x.io");
    assert!(!create.verified && !create.no_password);
    let UsersCommand::Create(create) =
        users(&["create", "--verified", "--no-password", "ann@x.io"])
    else {
        panic!("not create")
    };
    assert!(create.verified && create.no_password);
    // No argument, flag or variable carries a password.
    for bad in [
        &["users", "create"][..],
        &["users", "create", "ann@x.io", "secret"],
        &["users", "create", "ann@x.io", "--password", "secret"],
        &["users", "create", "ann@x.io", "--password=secret"],
    ] {
        let error = parse_error(bad);
        assert_eq!(error.exit_code(), 2, "{bad:?}");
    }
    use clap::CommandFactory;
    let mut command = Cli::command();
    let create = command
        .find_subcommand_mut("users")
        .and_then(|users| users.find_subcommand_mut("create"))
        .unwrap();
    for arg in create.get_arguments() {
        assert!(
            !arg.get_id().as_str().contains("password") || arg.get_id() == "no_password",
            "{:?}",
            arg.get_id()
        );
    }
}

#[test]
fn the_account_commands_take_one_address() {
    for name in [
        "disable",
        "enable",
        "delete",
        "revoke-sessions",
        "reset-two-factor",
    ] {
        let email = match users(&[name, "ann@x.io"]) {
            UsersCommand::Disable(arg)
            | UsersCommand::Enable(arg)
            | UsersCommand::RevokeSessions(arg)
            | UsersCommand::ResetTwoFactor(arg) => arg.email,
            UsersCommand::Delete(args) => {
                assert!(!args.yes);
                args.email
            }
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(email, "ann@x.io", "{name}");
        assert_eq!(parse_error(&["users", name]).exit_code(), 2, "{name}");
        let long = format!("{}@x.io", "a".repeat(250));
        assert_eq!(
            parse_error(&["users", name, &long]).exit_code(),
            2,
            "{name}"
        );
        assert_eq!(
            parse_error(&["users", name, "a\u{1b}@x.io"]).exit_code(),
            2,
            "{name}"
        );
    }
    let UsersCommand::Delete(delete) = users(&["delete", "--yes", "ann@x.io"]) else {
        panic!("not delete")
    };
    assert!(delete.yes);
    let UsersCommand::Delete(delete) = users(&["delete", "-y", "ann@x.io"]) else {
        panic!("not delete")
    };
    assert!(delete.yes);
    assert_eq!(parse_error(&["users", "nonsense"]).exit_code(), 2);
    assert_eq!(parse_error(&["users"]).exit_code(), 2);
}

#[test]
fn the_global_flags_reach_the_operators_commands() {
    let cli = parse(&[
        "users",
        "list",
        "--database-url",
        "x.db",
        "--bcrypt-cost",
        "5",
    ]);
    assert_eq!(cli.settings().0.url, "x.db");
    assert_eq!(cli.settings().1.bcrypt_cost, 5);
    let cli = parse(&["--database-url", "y.db", "audit", "--json"]);
    assert_eq!(cli.settings().0.url, "y.db");
    // They migrate as `serve` and `migrate` do (only `check` changes nothing).
    assert!(cli.settings().0.migrate);
}

#[test]
fn audit_takes_a_user_an_event_a_since_a_limit_and_json() {
    let plain = audit(&[]);
    assert_eq!(
        (
            plain.user,
            plain.event,
            plain.since,
            plain.limit,
            plain.json
        ),
        (None, None, None, None, false)
    );
    let full = audit(&[
        "--user",
        "ann@x.io",
        "--event",
        "admin_user_disabled",
        "--since",
        "24h",
        "--limit",
        "10",
        "--json",
    ]);
    assert_eq!(full.user.as_deref(), Some("ann@x.io"));
    assert_eq!(full.event, Some(auth::AuditEvent::AdminUserDisabled));
    assert_eq!(full.since, Some(Since::Ago(secs(24 * 3600))));
    assert_eq!((full.limit, full.json), (Some(10), true));
}

#[test]
fn since_is_a_span_back_or_an_rfc3339_time() {
    for (text, since) in [
        ("90s", Since::Ago(secs(90))),
        ("30m", Since::Ago(secs(1800))),
        ("24h", Since::Ago(secs(86_400))),
        ("7d", Since::Ago(secs(7 * 86_400))),
        ("2w", Since::Ago(secs(14 * 86_400))),
        ("0h", Since::Ago(secs(0))),
        ("2026-12-06T10:59:30Z", Since::At(1_796_554_770)),
        ("2026-12-06T11:59:30+01:00", Since::At(1_796_554_770)),
    ] {
        assert_eq!(audit(&["--since", text]).since, Some(since), "{text}");
    }
    assert_eq!(Since::Ago(secs(60)).unix_secs(1000), 940);
    assert_eq!(Since::At(5).unix_secs(1000), 5);
    for bad in [
        "",
        "24",
        "h",
        "24 h",
        "-1d",
        "1.5h",
        "1y",
        "yesterday",
        "3700d",
        "99999999999999999999s",
        "2026-12-06",
    ] {
        let error = parse_error(&["audit", &format!("--since={bad}")]);
        assert_eq!(error.exit_code(), 2, "{bad:?}");
        assert!(error.to_string().contains("--since"), "{bad:?}: {error}");
    }
}

#[test]
fn an_unknown_event_name_is_refused_with_the_names_listed() {
    let error = parse_error(&["audit", "--event", "login_ok"]);
    assert_eq!(error.exit_code(), 2);
    let text = error.to_string();
    assert!(
        text.contains("login_succeeded") && text.contains("admin_two_factor_reset"),
        "{text}"
    );
    for event in auth::AuditEvent::ALL {
        assert_eq!(audit(&["--event", event.as_str()]).event, Some(*event));
    }
}

#[test]
fn the_admin_api_needs_both_flags_and_a_readable_token_of_16_characters() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let good = file("good", "0123456789abcdef0123\n");
    let cli = parse(&["--admin-bind", "127.0.0.1:0", "--admin-token-file", &good]);
    let (bind, _) = cli.admin().unwrap().unwrap();
    assert_eq!(bind, "127.0.0.1:0");
    assert!(parse(&[]).admin().unwrap().is_none());
    let refused = |args: &[&str]| parse(args).admin().unwrap_err();
    assert_eq!(
        refused(&["--admin-bind", "127.0.0.1:0"]),
        "--admin-bind needs --admin-token-file (the admin token)"
    );
    for (text, why) in [
        ("", "the admin token is empty"),
        (" \n", "the admin token is empty"),
        (
            "short token",
            "the admin token is shorter than 16 characters",
        ),
    ] {
        let path = file("bad", text);
        let error = refused(&["--admin-bind", "127.0.0.1:0", "--admin-token-file", &path]);
        assert_eq!(error, format!("--admin-token-file {path}: {why}"));
    }
    let missing = dir.path().join("missing").display().to_string();
    let error = refused(&[
        "--admin-bind",
        "127.0.0.1:0",
        "--admin-token-file",
        &missing,
    ]);
    assert!(
        error.starts_with(&format!("--admin-token-file {missing}: ")),
        "{error}"
    );
}

#[test]
fn the_look_flags_are_checked_and_their_files_read() {
    use clap::Parser;
    let parse =
        |args: &[&str]| Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied()));
    for bad in [
        &["--accent-color", "blue"][..],
        &["--accent-color", "#12"],
        &["--site-name", " "],
    ] {
        let error = parse(bad).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{bad:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("logo.gif");
    std::fs::write(&gif, b"GIF89a....").unwrap();
    let cli = parse(&["--logo", gif.to_str().unwrap()]).unwrap();
    let error = cli.branding().unwrap_err();
    assert!(
        error.starts_with(&format!("--logo {}: ", gif.display())),
        "{error}"
    );
    let svg = dir.path().join("logo.svg");
    std::fs::write(
        &svg,
        br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#,
    )
    .unwrap();
    let css = dir.path().join("site.css");
    std::fs::write(&css, "h1 { letter-spacing: .05em; }").unwrap();
    let cli = parse(&[
        "--logo",
        svg.to_str().unwrap(),
        "--custom-css",
        css.to_str().unwrap(),
        "--site-name",
        "Acme Cloud",
        "--password-policy",
        "nist",
    ])
    .unwrap();
    let branding = cli.branding().unwrap();
    assert!(branding.logo_path().unwrap().ends_with(".svg"));
    let (_, auth, web) = cli.settings();
    assert_eq!(web.branding.logo_path(), branding.logo_path());
    assert_eq!(auth.totp_issuer, "Acme Cloud");
    assert!(auth.password_policy.site_names.iter().any(|n| n == "acme"));
    assert!(auth.password_policy.site_names.iter().any(|n| n == "cloud"));
}

#[test]
fn sign_in_providers_need_the_public_url_the_pages_and_ids_of_their_own() {
    let two = ["--oidc", OIDC, "--oidc", &OIDC.replace("id=x", "id=y")];
    let with_url = |extra: &[&str]| {
        let mut args = vec!["--public-url", "https://a.test/"];
        args.extend_from_slice(&two);
        args.extend_from_slice(extra);
        parse(&args).oidc()
    };
    let oidc = with_url(&["--oidc-trust-email", "y"]).unwrap().unwrap();
    let ids: Vec<_> = oidc
        .providers
        .iter()
        .map(|p| (p.id.as_str(), p.trust_email))
        .collect();
    assert_eq!(ids, [("x", false), ("y", true)]);
    assert_eq!(oidc.redirect_uri("y"), "https://a.test/oidc/y/callback");
    for (args, expected) in [
        (
            &two[..],
            "--oidc needs --public-url: each provider's redirect URI is",
        ),
        (
            &["--oidc-trust-email", "x"][..],
            "--oidc-trust-email x: no --oidc provider has this id",
        ),
        (
            &[
                "--public-url",
                "https://a.test",
                "--oidc",
                OIDC,
                "--no-pages",
            ][..],
            "--oidc needs the pages",
        ),
        (
            &[
                "--public-url",
                "https://a.test",
                "--oidc",
                OIDC,
                "--pages=false",
            ][..],
            "--oidc needs the pages",
        ),
        (
            &[
                "--public-url",
                "https://a.test",
                "--oidc",
                OIDC,
                "--oidc",
                OIDC,
            ][..],
            "--oidc x: two providers have this id",
        ),
    ] {
        let error = parse(args).oidc().unwrap_err();
        assert!(error.starts_with(expected), "{args:?}: {error}");
    }
    let error = with_url(&["--oidc-trust-email", "x,z"]).unwrap_err();
    assert_eq!(
        error,
        "--oidc-trust-email z: no --oidc provider has this id"
    );
    assert!(parse(&[]).oidc().unwrap().is_none());
}

#[test]
fn a_bad_provider_is_refused_as_the_flag_is_parsed_without_repeating_it() {
    for spec in [
        "id=x,name=X,issuer=https://x.test",
        "id=x,name=X,issuer=https://x.test,client_id=c,client_secret=hunter2",
        "id=x,name=X,issuer=https://x.test,client_id=c,colour=hunter2",
    ] {
        let error = parse_error(&["--oidc", spec]).render().to_string();
        let first = error.lines().next().unwrap();
        assert!(first.starts_with("error: --oidc"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[test]
fn the_product_presets_web_settings_are_web_options_product() {
    // `WebOptions::product()` is the library twin of `--preset product` for the settings that
    // live in `WebOptions`: with an https public URL the two agree on each of them.
    let preset = parse(&[
        "--preset",
        "product",
        "--public-url",
        "https://auth.example.com",
    ]);
    let preset = preset.settings().2;
    let product = WebOptions::product();
    assert!(preset.cookie_secure && product.cookie_secure);
    let classic = parse(&["--public-url", "https://auth.example.com"])
        .settings()
        .2;
    assert_eq!(classic.cookie_secure, WebOptions::default().cookie_secure);
}
