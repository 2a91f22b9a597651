//! `--config FILE`: a TOML file whose keys are the flags' long names. It is read before the
//! flags are checked, and each of its settings is checked as the flag itself would be, so a
//! bad one exits 2 naming the file, the line and the key.

use std::path::Path;

use clap::{Arg, ArgAction, Command};
use toml::de::{DeTable, DeValue};

/// Largest config file authd reads: far above any real one.
const MAX_FILE: u64 = 1024 * 1024;

/// One setting of the file, as the flag would be given (`--key=value`, once per value).
#[derive(Debug, Clone)]
pub struct FileSetting {
    /// The flag's id (clap's name for it, as `ArgMatches` knows it).
    pub id: String,
    /// Where in the file: `FILE:LINE`.
    pub place: String,
    /// The arguments that give it on a command line.
    pub args: Vec<String>,
}

/// Reads `path` and checks every key against the flags of `command`. Errors are one line:
/// `FILE:LINE: …` naming the key.
pub fn read(path: &Path, command: &Command) -> Result<Vec<FileSetting>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("--config {shown}: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE {
        return Err(format!("--config {shown}: larger than 1 MiB"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => format!("--config {shown}: not UTF-8 text"),
        _ => format!("--config {shown}: {e}"),
    })?;
    parse(&text, path, command)
}

/// The settings of `text`, the contents of the file `path`.
fn parse(text: &str, path: &Path, command: &Command) -> Result<Vec<FileSetting>, String> {
    let shown = path.display();
    let at = |offset: usize| format!("{shown}:{}", line_of(text, offset));
    let table = DeTable::parse(text).map_err(|e| {
        let place = e.span().map_or_else(|| shown.to_string(), |s| at(s.start));
        format!("{place}: not TOML: {}", e.message().trim_end())
    })?;
    let mut settings = Vec::new();
    // In the file's order, so that the first bad line is the one named.
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let name: &str = key.get_ref();
        let place = at(key.span().start);
        let arg = find(command, name).map_err(|e| format!("{place}: {e}"))?;
        let values = strings(value.get_ref()).map_err(|e| format!("{place}: `{name}`: {e}"))?;
        let args = as_args(arg, &values).map_err(|e| format!("{place}: `{name}`: {e}"))?;
        check(command, &args).map_err(|e| format!("{place}: `{name}`: {e}"))?;
        settings.push(FileSetting {
            id: arg.get_id().to_string(),
            place,
            args,
        });
    }
    Ok(settings)
}

/// The line (from 1) holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The settings a file may hold: every global flag but --config, --help and --version.
pub fn settable(command: &Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|arg| {
        arg.get_long().is_some() && !matches!(arg.get_id().as_str(), "config" | "help" | "version")
    })
}

/// The flag whose long name is `key`.
fn find<'c>(command: &'c Command, key: &str) -> Result<&'c Arg, String> {
    if let Some(arg) = settable(command).find(|arg| arg.get_long() == Some(key)) {
        return Ok(arg);
    }
    let dashed = key.replace('_', "-");
    let hint = match settable(command).find(|arg| arg.get_long() == Some(dashed.as_str())) {
        Some(_) => format!(" (did you mean `{dashed}`?)"),
        None if key == "config" => " (a config file cannot name another)".to_owned(),
        None => " (`authd config example` lists every setting)".to_owned(),
    };
    Err(format!("unknown setting `{key}`{hint}"))
}

/// The TOML value as the flag's text values: a string, number or boolean is one; an array
/// of them is one each (for a flag that may be repeated).
fn strings(value: &DeValue<'_>) -> Result<Vec<String>, String> {
    match value {
        DeValue::String(text) => Ok(vec![text.to_string()]),
        DeValue::Integer(number) => {
            let parsed = i64::from_str_radix(&number.as_str().replace('_', ""), number.radix())
                .map_err(|_| format!("{} is out of range", number.as_str()))?;
            Ok(vec![parsed.to_string()])
        }
        DeValue::Boolean(yes) => Ok(vec![yes.to_string()]),
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Array(_) | DeValue::Table(_) => {
                    Err("an array may hold only values".to_owned())
                }
                value => Ok(strings(value)?.remove(0)),
            })
            .collect(),
        DeValue::Float(_) => Err("a decimal number is no setting's value".into()),
        DeValue::Datetime(_) => Err("a date is no setting's value: quote it".into()),
        DeValue::Table(_) => Err("a table is no setting: write `key = value` at the top".into()),
    }
}

/// `--key=value` for each value; a switch (`--no-pages`) is `true` (given) or `false`.
fn as_args(arg: &Arg, values: &[String]) -> Result<Vec<String>, String> {
    let long = arg.get_long().unwrap_or_default();
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    if values.len() != 1 && !repeatable {
        return Err("takes one value, not an array".into());
    }
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match values[0].as_str() {
            "true" => Ok(vec![format!("--{long}")]),
            "false" => Ok(Vec::new()),
            _ => Err("takes true or false".into()),
        };
    }
    Ok(values.iter().map(|v| format!("--{long}={v}")).collect())
}

/// Parses `args` alone as clap would on a command line: the flag's own checks and messages.
fn check(command: &Command, args: &[String]) -> Result<(), String> {
    let line = std::iter::once("authd".to_owned()).chain(args.iter().cloned());
    match command.clone().try_get_matches_from(line) {
        Ok(_) => Ok(()),
        Err(error) => {
            let text = error.render().to_string();
            let first = text.lines().next().unwrap_or("invalid value");
            Err(first.strip_prefix("error: ").unwrap_or(first).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::Cli;

    fn parse_text(text: &str) -> Result<Vec<FileSetting>, String> {
        parse(text, Path::new("authd.toml"), &Cli::command())
    }

    #[test]
    fn each_key_becomes_the_flag_it_names() {
        let text = "bcrypt-cost = 10\ncookie-secure = true\nbind = \"127.0.0.1:5001\"\n\
                    no-pages = true\nallowed-origins = [\"https://a.test\", \"https://b.test\"]\n";
        let settings = parse_text(text).unwrap();
        let args: Vec<_> = settings.iter().flat_map(|s| s.args.clone()).collect();
        assert_eq!(
            args,
            [
                "--bcrypt-cost=10",
                "--cookie-secure=true",
                "--bind=127.0.0.1:5001",
                "--no-pages",
                "--allowed-origins=https://a.test",
                "--allowed-origins=https://b.test",
            ]
        );
        assert_eq!(settings[2].place, "authd.toml:3");
        assert_eq!(settings[2].id, "bind");
    }

    #[test]
    fn a_bad_key_or_value_names_the_file_the_line_and_the_key() {
        for (text, expected) in [
            (
                "\n\nbcrypt-cost = 99\n",
                "authd.toml:3: `bcrypt-cost`: invalid value '99'",
            ),
            (
                "bcrypt_cost = 10\n",
                "authd.toml:1: unknown setting `bcrypt_cost` (did you mean `bcrypt-cost`?)",
            ),
            (
                "x = 1\nfrobnicate = 1\n",
                "authd.toml:1: unknown setting `x`",
            ),
            (
                "config = \"other.toml\"\n",
                "authd.toml:1: unknown setting `config` (a config file cannot name another)",
            ),
            (
                "bind = [\"a:1\", \"b:2\"]\n",
                "authd.toml:1: `bind`: takes one value, not an array",
            ),
            (
                "[mail]\nsmtp-url = \"x\"\n",
                "authd.toml:1: unknown setting `mail`",
            ),
            (
                "cookie-secure = \"maybe\"\n",
                "authd.toml:1: `cookie-secure`: invalid value 'maybe'",
            ),
            (
                "session-ttl = 1.5\n",
                "authd.toml:1: `session-ttl`: a decimal number",
            ),
            (
                "bcrypt-cost = 10\nbcrypt-cost = 11\n",
                "authd.toml:2: not TOML",
            ),
            ("bcrypt-cost = \n", "authd.toml:1: not TOML"),
        ] {
            let error = parse_text(text).unwrap_err();
            assert!(error.starts_with(expected), "{text:?}: {error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }

    #[test]
    fn numbers_keep_their_value_in_any_toml_spelling() {
        let settings = parse_text("session-ttl = 0x10\nreset-ttl = 1_000\n").unwrap();
        assert_eq!(settings[0].args, ["--session-ttl=16"]);
        assert_eq!(settings[1].args, ["--reset-ttl=1000"]);
    }
}
