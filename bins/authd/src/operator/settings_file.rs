//! `authd config example` and `authd config show`: config files written from the flags
//! themselves, so that they cannot drift from what authd takes.

use std::fmt::Write;

use clap::{Arg, ArgAction, CommandFactory};

use crate::config::{settable, Cli, Loaded, Source};

/// Width the help text is wrapped to, after `# `.
const WIDTH: usize = 92;

/// Settings whose values may hold a password (in a URL's user part).
const URLS_WITH_PASSWORDS: [&str; 2] = ["database_url", "smtp_url"];

/// A complete config file: every setting commented out at its default, under its help.
pub fn example() -> String {
    let command = Cli::command();
    let mut out = String::from(
        "# authd's config file (TOML): `authd --config FILE`, or AUTHD_CONFIG=FILE.\n\
         # Each key is a flag's long name; a flag or environment variable wins over the file.\n\
         # Every setting is here, commented out at its default: uncomment what you change.\n",
    );
    let mut heading = None;
    for arg in settable(&command) {
        if arg.get_help_heading() != heading {
            heading = arg.get_help_heading();
            let _ = write!(out, "\n## {}\n", heading.unwrap_or("Other"));
        }
        out.push('\n');
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut help = help.trim_end().to_owned();
        if !help.ends_with(['.', ':', '!', '?']) {
            // clap drops a one-line help's final full stop.
            help.push('.');
        }
        for line in wrap(&help) {
            let _ = writeln!(out, "# {line}");
        }
        let choices: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| value.get_name().to_owned())
            .collect();
        if !choices.is_empty() && !choices.iter().any(|c| c == "true") {
            let _ = writeln!(out, "# One of: {}.", choices.join(", "));
        }
        if let Some(env) = arg.get_env() {
            let _ = writeln!(out, "# Environment: {}.", env.to_string_lossy());
        }
        let key = arg.get_long().unwrap_or_default();
        match default_of(arg) {
            Some(value) => {
                let _ = writeln!(out, "#{key} = {value}");
            }
            None => {
                let _ = writeln!(out, "# (no default)\n#{key} = {}", placeholder(arg));
            }
        }
    }
    out
}

/// The settings in effect, as a config file; beside each, where it came from.
pub fn show(loaded: &Loaded) -> String {
    let command = Cli::command();
    let mut out = String::from(
        "# authd's settings in effect, and where each came from\n\
         # (flag > environment > file > preset > default); passwords in URLs are shown as `..`.\n",
    );
    if let Some(path) = &loaded.cli.config {
        let _ = writeln!(out, "# The config file: {}", path.display());
    }
    for arg in settable(&command) {
        let id = arg.get_id().as_str();
        let key = arg.get_long().unwrap_or_default();
        let source = loaded.sources.source(id);
        let raw: Vec<String> = loaded
            .sources
            .matches
            .get_raw(id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let shown: Vec<String> = raw
            .iter()
            .map(|value| match URLS_WITH_PASSWORDS.contains(&id) {
                true => redact_url_password(value),
                false => value.clone(),
            })
            .collect();
        let line = match (shown.as_slice(), &source) {
            ([], Source::Unset | Source::Default) => format!("#{key} =  # unset"),
            ([], _) => format!("{key} = []  # {source}"),
            ([one], _) if !repeatable(arg) => format!("{key} = {}  # {source}", toml_value(one)),
            (many, _) => {
                let items: Vec<String> = many.iter().map(|v| toml_value(v)).collect();
                format!("{key} = [{}]  # {source}", items.join(", "))
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `scheme://user:password@host…` with the password as `..`; anything else as it is.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    match userinfo.contains(':') {
        true => format!("{scheme}://{user}:..@{host}{tail}"),
        false => url.to_owned(),
    }
}

/// Whether the flag may be given more than once (an array in the file).
fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
}

/// The flag's default as a TOML value; `None` when it has none.
fn default_of(arg: &Arg) -> Option<String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return Some("false".to_owned());
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    match values.as_slice() {
        [] if repeatable(arg) => Some("[]".to_owned()),
        [] => None,
        [one] if !repeatable(arg) => Some(toml_value(one)),
        many => Some(format!(
            "[{}]",
            many.iter()
                .map(|v| toml_value(v))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What to write for a setting without a default: its value's name, quoted.
fn placeholder(arg: &Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|names| names.first().map(ToString::to_string))
        .unwrap_or_else(|| "VALUE".to_owned());
    match repeatable(arg) {
        true => format!("[\"{name}\"]"),
        false => format!("\"{name}\""),
    }
}

/// `text` as TOML: a whole number or a boolean bare, anything else a quoted string.
fn toml_value(text: &str) -> String {
    let number = !text.is_empty()
        && text.len() < 19
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    if number || text == "true" || text == "false" {
        return text.to_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `text`'s paragraphs, each wrapped at `WIDTH`, with an empty line between them.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, paragraph) in text.split("\n\n").enumerate() {
        if n > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_shown_as_dots_and_nothing_else_changes() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db:5432/authd",
                "postgres://app:..@db:5432/authd",
            ),
            (
                "smtps://me%40x.com:p%40ss@smtp.x.com",
                "smtps://me%40x.com:..@smtp.x.com",
            ),
            ("postgres://app@db/authd", "postgres://app@db/authd"),
            (
                "postgres://db/authd?user=a@b",
                "postgres://db/authd?user=a@b",
            ),
            ("authd.db", "authd.db"),
        ] {
            assert_eq!(redact_url_password(url), shown);
        }
    }

    #[test]
    fn values_are_written_as_toml_reads_them() {
        assert_eq!(toml_value("12"), "12");
        assert_eq!(toml_value("true"), "true");
        assert_eq!(toml_value("0755"), "\"0755\"");
        assert_eq!(toml_value("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        assert_eq!(toml_value(""), "\"\"");
    }
}
