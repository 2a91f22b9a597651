//! Whether this build's libpq can speak TLS, and refusing at start a URL that asks it to when
//! it cannot: with `bundled-postgres` and without `postgres-tls`, libpq is compiled without
//! OpenSSL and would answer `sslmode=require` with a puzzling message at the first connection.

use crate::error::DbError;

/// Whether the libpq in this build has TLS: the bundled one only with `postgres-tls`; a
/// system libpq (no `bundled-postgres`) has whatever it was built with.
pub(crate) const LIBPQ_TLS: bool = !cfg!(all(
    feature = "bundled-postgres",
    not(feature = "postgres-tls")
));

/// The `sslmode` values with which libpq refuses to connect without TLS.
const TLS_REQUIRED: &[&str] = &["require", "verify-ca", "verify-full"];

/// `Ok` unless `url` is PostgreSQL's and it (or `PGSSLMODE`, which libpq reads when the URL
/// names no `sslmode`) asks for TLS, and this build's libpq has none.
pub(crate) fn check(url: &str) -> Result<(), DbError> {
    let url = url.trim();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(());
    }
    let env = std::env::var("PGSSLMODE").ok();
    check_with(url, env.as_deref(), LIBPQ_TLS)
}

fn check_with(url: &str, env: Option<&str>, libpq_tls: bool) -> Result<(), DbError> {
    if libpq_tls {
        return Ok(());
    }
    let from_url = url
        .split_once('?')
        .map(|(_, query)| query)
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "sslmode")
        .map(|(_, value)| value)
        .next_back();
    let (mode, origin) = match (from_url, env) {
        (Some(mode), _) => (mode, "the database URL's sslmode"),
        (None, Some(mode)) => (mode, "PGSSLMODE"),
        (None, None) => return Ok(()),
    };
    if TLS_REQUIRED.contains(&mode) {
        return Err(DbError::InvalidOptions(format!(
            "{origin} is {mode}, but this build's libpq has no TLS (compiled in without \
             OpenSSL): build with the `postgres-tls` feature (which links the system's \
             OpenSSL), or without `bundled-postgres` to use the system's libpq"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_with;
    use crate::DbError;

    #[test]
    fn a_url_asking_for_tls_is_refused_by_a_libpq_without_it() {
        for url in [
            "postgres://u@h/d?sslmode=require",
            "postgres://u@h/d?connect_timeout=5&sslmode=verify-ca",
            "postgresql://u@h/d?sslmode=verify-full",
        ] {
            let error = check_with(url, None, false).expect_err(url);
            assert!(
                matches!(error, DbError::InvalidOptions(_)),
                "{url}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.contains("postgres-tls"), "{text}");
            assert!(text.contains("sslmode"), "{text}");
            assert!(check_with(url, None, true).is_ok(), "{url}");
        }
        let error = check_with("postgres://u@h/d", Some("verify-full"), false).unwrap_err();
        assert!(
            error.to_string().contains("PGSSLMODE is verify-full"),
            "{error}"
        );
        // The URL wins over the environment, as in libpq.
        assert!(check_with("postgres://u@h/d?sslmode=disable", Some("require"), false).is_ok());
        for url in [
            "postgres://u@h/d",
            "postgres://u@h/d?sslmode=disable",
            "postgres://u@h/d?sslmode=prefer",
            "postgres://u@h/d?sslmode=allow",
        ] {
            assert!(check_with(url, None, false).is_ok(), "{url}");
        }
    }
}
