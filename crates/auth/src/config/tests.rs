//! `PasskeyConfig`'s and `MailConfig`'s checks, and `AuthConfig::product`.

mod passkey_config_tests {
    use super::super::*;

    #[test]
    fn the_rp_id_defaults_to_the_host_and_the_origin_drops_the_path() {
        let config = PasskeyConfig::new("https://Auth.Example.com/base/", None).unwrap();
        assert_eq!(config.origin, "https://auth.example.com");
        assert_eq!(config.rp_id, "auth.example.com");
        let local = PasskeyConfig::new("http://localhost:8080", None).unwrap();
        assert_eq!(
            (local.origin.as_str(), local.rp_id.as_str()),
            ("http://localhost:8080", "localhost")
        );
    }

    #[test]
    fn a_parent_domain_is_a_valid_rp_id_and_another_domain_is_not() {
        let config = PasskeyConfig::new("https://auth.example.com", Some("example.com")).unwrap();
        assert_eq!(config.rp_id, "example.com");
        for other in ["ample.com", "other.com", "auth.example.com.evil", ""] {
            assert!(
                matches!(
                    PasskeyConfig::new("https://auth.example.com", Some(other)),
                    Err(PasskeySettingsError::NotWithinRpId { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn ip_addresses_are_refused_as_origin_host_and_as_rp_id() {
        for url in ["http://127.0.0.1:8080", "https://[::1]/"] {
            assert_eq!(
                PasskeyConfig::new(url, None),
                Err(PasskeySettingsError::IpOrigin),
                "{url}"
            );
        }
        for rp in ["127.0.0.1", "[::1]", "::1"] {
            assert!(
                matches!(
                    PasskeyConfig::new("https://auth.example.com", Some(rp)),
                    Err(PasskeySettingsError::IpRpId(_))
                ),
                "{rp}"
            );
        }
        assert_eq!(
            PasskeyConfig::new("ftp://x.io", None),
            Err(PasskeySettingsError::BadUrl)
        );
    }
}

mod mail_config_tests {
    use super::super::*;
    use crate::mail::message::{Mail, MailTransport, SendError};
    use crate::mail::options::OutboxOptions;

    struct Nowhere;

    impl MailTransport for Nowhere {
        fn send(&self, _: &Mail) -> Result<(), SendError> {
            Ok(())
        }
    }

    fn config() -> MailConfig {
        let options = OutboxOptions {
            senders: 0,
            ..OutboxOptions::default()
        };
        MailConfig::new(Outbox::start(Nowhere, options), "https://authd.test/")
    }

    #[test]
    fn mail_is_signed_authd_without_a_logo_unless_told_otherwise() {
        let config = config();
        assert_eq!(
            (config.site_name.as_str(), config.logo_url.as_deref()),
            ("authd", None)
        );
        let config = config
            .with_site_name("  Example & Co  ")
            .unwrap()
            .with_logo_url("https://authd.test/logo.png")
            .unwrap();
        assert_eq!(config.site_name, "Example & Co");
        assert_eq!(
            config.logo_url.as_deref(),
            Some("https://authd.test/logo.png")
        );
    }

    #[test]
    fn a_site_name_on_two_lines_or_too_long_and_a_logo_url_not_on_the_web_are_refused() {
        let long = "x".repeat(MAX_SITE_NAME_CHARS + 1);
        for name in ["", "  ", "a\r\nBcc: eve@x.io", "a\u{7}", long.as_str()] {
            assert!(config().with_site_name(name).is_err(), "{name:?}");
        }
        assert!(config().with_site_name(&long[1..]).is_ok());
        for url in [
            "javascript:alert(1)",
            "//authd.test/logo.png",
            "https://",
            "https:///logo.png",
            "https://authd.test/a b.png",
            "https://authd.test/\"onerror=\"x",
            "https://authd.test/<x>",
            "data:image/png;base64,AAAA",
        ] {
            assert!(config().with_logo_url(url).is_err(), "{url}");
        }
        assert!(config()
            .with_logo_url("http://localhost:8080/logo.svg")
            .is_ok());
    }
}

mod product_tests {
    use super::super::*;
    use crate::mail::message::{Mail, MailTransport, SendError};
    use crate::mail::options::OutboxOptions;

    struct Nowhere;

    impl MailTransport for Nowhere {
        fn send(&self, _: &Mail) -> Result<(), SendError> {
            Ok(())
        }
    }

    #[test]
    fn product_sets_sessions_the_nist_policy_and_mailed_reset_tokens_only() {
        let product = AuthConfig::product();
        assert_eq!(product.max_sessions_per_user, 10);
        assert_eq!(product.password_policy, PasswordPolicy::nist());
        assert!(!product.reset_token_in_answer);
        assert!(!product.require_verified_email, "needs mail");
        assert!(product.mail.is_none());
        // Everything else is the default's.
        let mut like_default = AuthConfig::product();
        like_default.max_sessions_per_user = 1;
        like_default.password_policy = PasswordPolicy::classic();
        assert_eq!(
            format!("{like_default:?}"),
            format!("{:?}", AuthConfig::default())
        );
    }

    #[test]
    fn product_with_mail_also_requires_confirmed_addresses() {
        let options = OutboxOptions {
            senders: 0,
            ..OutboxOptions::default()
        };
        let mail = MailConfig::new(Outbox::start(Nowhere, options), "https://authd.test/");
        let config = AuthConfig::product_with_mail(mail);
        assert!(config.require_verified_email && config.mail.is_some());
        assert_eq!(config.max_sessions_per_user, 10);
        assert!(!config.reset_token_in_answer);
    }
}
