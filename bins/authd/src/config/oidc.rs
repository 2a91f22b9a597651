//! The flags of sign-in through outside OpenID Connect providers: `--oidc SPEC` (one provider
//! each) and `--oidc-trust-email ID`. A spec is checked as it is parsed (so a bad one in the
//! config file names its line); the client secret is read from its file, and the providers put
//! together with --public-url, by `Cli::oidc`, before anything is opened.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use auth::OidcProvider;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::Args;

/// Under `--help`'s heading of its own.
const OIDC: &str = "Sign-in providers (OpenID Connect)";

/// The keys of a spec, as the messages list them.
const KEYS: &str = "id, name, issuer, client_id and client_secret_file";

/// Largest client secret file read: far above any real secret (the secret itself is at most
/// 1024 characters).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Sign-in providers, flattened into `Cli`.
#[derive(Debug, Args)]
pub struct OidcArgs {
    /// An OpenID Connect provider people may sign in through ("Continue with NAME" on the
    /// sign-in page); repeatable, one provider each. SPEC is comma-separated key=value (so no
    /// value holds a comma):
    /// `id=ID,name=NAME,issuer=URL,client_id=CLIENT` and, for a confidential client,
    /// `client_secret_file=PATH`, a file holding the client secret (read at start; whitespace at
    /// its end is not part of it); without it, a public client (PKCE only). The secret itself
    /// is never given on the command line or in the environment. ID is 1 to 32 of a-z, 0-9, -
    /// and _, in the URLs: register `{public-url}/oidc/{ID}/callback` as the redirect URI at
    /// the provider. NAME is 1 to 40 characters; the issuer is https://, or http:// on
    /// localhost only. Needs --public-url and the pages. With the variable: one SPEC per line
    /// (blank lines are ignored). `authd check` fetches each provider's discovery document
    /// and keys; a server that cannot reach a provider starts anyway and tries again.
    #[arg(long, env = "AUTHD_OIDC", value_name = "SPEC", value_delimiter = '\n',
          value_parser = SpecParser, global = true, help_heading = OIDC)]
    pub oidc: Vec<String>,

    /// A provider (its --oidc id) whose confirmed addresses are trusted: a person it signs in
    /// whom authd does not know yet, and whose address the provider says it confirmed, is
    /// connected to the account that has that address. Off for every provider by default: a
    /// provider that lets people claim any address would hand over accounts. Only for one that
    /// checks the addresses it asserts (your own Keycloak, Google for gmail.com). Repeatable;
    /// with the variable, ids separated by commas.
    #[arg(long, env = "AUTHD_OIDC_TRUST_EMAIL", value_name = "ID", value_delimiter = ',',
          global = true, help_heading = OIDC)]
    pub oidc_trust_email: Vec<String>,
}

impl OidcArgs {
    /// The providers of --oidc, in order (blank values left out).
    pub fn specs(&self) -> Result<Vec<OidcSpec>, String> {
        let parsed = self.oidc.iter().map(|text| OidcSpec::parse(text));
        parsed.filter_map(Result::transpose).collect()
    }

    /// The ids of --oidc-trust-email, each trimmed (blank ones left out).
    pub fn trusted(&self) -> Vec<&str> {
        let ids = self.oidc_trust_email.iter().map(|id| id.trim());
        ids.filter(|id| !id.is_empty()).collect()
    }
}

/// One provider as --oidc gives it: every value checked but the secret, which is only named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSpec {
    /// `id=`.
    pub id: String,
    /// `name=`.
    pub name: String,
    /// `issuer=`.
    pub issuer: String,
    /// `client_id=`.
    pub client_id: String,
    /// `client_secret_file=`, when given.
    pub client_secret_file: Option<PathBuf>,
}

impl OidcSpec {
    /// The spec of `text`; `None` when it is blank. The errors name --oidc (and the provider's
    /// id once known) and never repeat a value that could be a secret.
    pub fn parse(text: &str) -> Result<Option<OidcSpec>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (mut id, mut name, mut issuer, mut client_id, mut secret_file) =
            (None, None, None, None, None);
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let Some((key, value)) = item.split_once('=') else {
                return Err(format!(
                    "--oidc: each comma-separated part of a provider is key=value (the keys \
                     are {KEYS})"
                ));
            };
            let slot = match key.trim() {
                "id" => &mut id,
                "name" => &mut name,
                "issuer" => &mut issuer,
                "client_id" => &mut client_id,
                "client_secret_file" => &mut secret_file,
                "client_secret" => {
                    return Err(
                        "--oidc: no client_secret= (a secret on the command line or in \
                                the environment is seen by others): put the secret in a file \
                                and give client_secret_file=PATH"
                            .into(),
                    )
                }
                other => {
                    let shown: String = other.chars().take(40).collect();
                    return Err(format!(
                        "--oidc: unknown key {shown:?} (the keys are {KEYS})"
                    ));
                }
            };
            if slot.replace(value.trim().to_owned()).is_some() {
                return Err(format!("--oidc: {}= is given twice", key.trim()));
            }
        }
        let who = match id.as_deref() {
            Some(id) if plain_id(id) => format!("--oidc {id}"),
            _ => "--oidc".to_owned(),
        };
        let missing: Vec<&str> = [
            ("id", &id),
            ("name", &name),
            ("issuer", &issuer),
            ("client_id", &client_id),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_none())
        .map(|(key, _)| key)
        .collect();
        let (Some(id), Some(name), Some(issuer), Some(client_id)) = (id, name, issuer, client_id)
        else {
            return Err(format!(
                "{who}: {} missing (a provider needs id, name, issuer and client_id; \
                 client_secret_file is optional)",
                missing
                    .iter()
                    .map(|key| format!("{key}="))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if secret_file.as_deref() == Some("") {
            return Err(format!("{who}: client_secret_file= names no file"));
        }
        OidcProvider::new(&id, &name, &issuer, &client_id, None)
            .map_err(|e| format!("{who}: {e}"))?;
        Ok(Some(OidcSpec {
            id,
            name,
            issuer,
            client_id,
            client_secret_file: secret_file.map(PathBuf::from),
        }))
    }

    /// The provider, its secret read from `client_secret_file`. The errors name --oidc, the
    /// id and the file, never the file's contents.
    pub fn provider(&self) -> Result<OidcProvider, String> {
        let who = format!("--oidc {}", self.id);
        let secret = match &self.client_secret_file {
            Some(path) => Some(
                read_secret(path)
                    .map_err(|e| format!("{who}: client_secret_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        OidcProvider::new(&self.id, &self.name, &self.issuer, &self.client_id, secret)
            .map_err(|e| format!("{who}: {e}"))
    }
}

/// Whether `id` is a provider id fit to repeat in a message.
fn plain_id(id: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    !id.is_empty() && id.len() <= auth::MAX_OIDC_ID_CHARS && id.chars().all(ok)
}

/// The secret in the file at `path`, without the whitespace at its end.
fn read_secret(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err("larger than 64 KiB".into());
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let secret = text.trim_end();
    if secret.is_empty() {
        return Err("is empty".into());
    }
    Ok(secret.to_owned())
}

/// Checks a --oidc value as it is parsed, with a message of its own: clap's would repeat the
/// value, which may hold a secret given by mistake.
#[derive(Debug, Clone, Copy)]
struct SpecParser;

impl TypedValueParser for SpecParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let refuse = |why: String| clap::Error::raw(ErrorKind::ValueValidation, why).with_cmd(cmd);
        let text = value
            .to_str()
            .ok_or_else(|| refuse("--oidc: not UTF-8 text".into()))?;
        OidcSpec::parse(text).map_err(refuse)?;
        Ok(text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id=google,name=Google,issuer=https://accounts.google.com,client_id=abc";

    #[test]
    fn a_spec_gives_each_value_and_may_name_a_secret_file() {
        let spec = OidcSpec::parse(GOOD).unwrap().unwrap();
        assert_eq!(spec.id, "google");
        assert_eq!(spec.name, "Google");
        assert_eq!(spec.issuer, "https://accounts.google.com");
        assert_eq!(spec.client_id, "abc");
        assert_eq!(spec.client_secret_file, None);
        let text = format!(" {GOOD}, client_secret_file = /run/secrets/google ,");
        let spec = OidcSpec::parse(&text).unwrap().unwrap();
        assert_eq!(
            spec.client_secret_file.as_deref(),
            Some(Path::new("/run/secrets/google"))
        );
        assert_eq!(OidcSpec::parse(" \t").unwrap(), None);
    }

    #[test]
    fn a_bad_spec_says_what_is_wrong_naming_the_flag_and_no_secret() {
        for (text, expected) in [
            (
                format!("{GOOD},scope=openid"),
                "--oidc: unknown key \"scope\"",
            ),
            (
                "id=google,name=Google,client_id=abc".to_owned(),
                "--oidc google: issuer= missing",
            ),
            (
                "name=G".to_owned(),
                "--oidc: id=, issuer=, client_id= missing",
            ),
            (
                format!("{GOOD},client_secret=hunter2hunter2"),
                "--oidc: no client_secret=",
            ),
            (format!("{GOOD},id=other"), "--oidc: id= is given twice"),
            (
                format!("{GOOD},hunter2"),
                "--oidc: each comma-separated part",
            ),
            (
                GOOD.replace("https://accounts.google.com", "http://idp.example.com"),
                "--oidc google: issuer must be an https:// URL",
            ),
            (
                GOOD.replace("id=google", "id=Google!"),
                "--oidc: id must be 1 to 32",
            ),
            (
                format!("{GOOD},client_secret_file="),
                "--oidc google: client_secret_file= names no file",
            ),
        ] {
            let error = OidcSpec::parse(&text).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn the_secret_is_the_files_text_without_its_final_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |name: &str, contents: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            let text = format!("{GOOD},client_secret_file={}", path.display());
            OidcSpec::parse(&text).unwrap().unwrap().provider()
        };
        let provider = spec("good", b"s3cret value\n").unwrap();
        assert_eq!(provider.client_secret.as_deref(), Some("s3cret value"));
        for (name, contents, expected) in [
            ("empty", &b"\n"[..], "is empty"),
            ("binary", &b"\xff\xfe"[..], "not UTF-8 text"),
            ("two-lines", &b"s3cret\nmore\n"[..], "printable"),
        ] {
            let error = spec(name, contents).unwrap_err();
            assert!(error.starts_with("--oidc google: "), "{error}");
            assert!(error.contains(expected), "{name}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        let missing = OidcSpec::parse(&format!("{GOOD},client_secret_file=/nowhere/secret"));
        let error = missing.unwrap().unwrap().provider().unwrap_err();
        assert!(
            error.starts_with("--oidc google: client_secret_file /nowhere/secret: "),
            "{error}"
        );
    }
}
