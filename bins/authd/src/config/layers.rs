//! Where each setting comes from: a flag, then the environment, then the config file, then
//! the preset, then the default. The file's and the preset's settings are given to clap as
//! flags (so each is checked as the flag is) for the settings the flags and the environment
//! leave at their default; this module remembers which.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::file::{self, FileSetting};
use super::preset;
use super::Cli;

/// Where one setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built in.
    Default,
    /// The command line.
    Flag,
    /// This environment variable.
    Env(String),
    /// The config file, at `FILE:LINE`.
    File(String),
    /// The preset (its name).
    Preset(&'static str),
    /// Not set, and no default.
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Flag => f.write_str("flag"),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::File(place) => write!(f, "file {place}"),
            Source::Preset(name) => write!(f, "preset {name}"),
            Source::Unset => f.write_str("unset"),
        }
    }
}

/// The settings with where each came from.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub cli: Cli,
    /// Where each came from.
    pub sources: Sources,
}

/// Where each setting came from.
#[derive(Debug)]
pub struct Sources {
    /// The parsed matches (the raw text of each value, for `config show`).
    pub matches: ArgMatches,
    /// By flag id: what the file or the preset gave. Others: what clap says.
    given: BTreeMap<String, Source>,
}

impl Sources {
    /// `error` (a bad setting, naming its flag as `--name`), led by the file's place and key
    /// when the first flag it names was set in the config file.
    pub fn explain(&self, error: &str) -> String {
        let command = Cli::command();
        let named = error.split("--").skip(1).find_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(name.as_str()))
        });
        match named.map(|arg| (arg, self.source(arg.get_id().as_str()))) {
            Some((arg, Source::File(place))) => {
                let key = arg.get_long().unwrap_or_default();
                format!("{place}: `{key}`: {error}")
            }
            _ => error.to_owned(),
        }
    }

    /// Where the setting of flag `id` came from.
    pub fn source(&self, id: &str) -> Source {
        if let Some(source) = self.given.get(id) {
            return source.clone();
        }
        match self.matches.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => {
                let command = Cli::command();
                let env = command
                    .get_arguments()
                    .find(|arg| arg.get_id() == id)
                    .and_then(|arg| arg.get_env())
                    .map(|name| name.to_string_lossy().into_owned());
                Source::Env(env.unwrap_or_default())
            }
            Some(ValueSource::DefaultValue) => Source::Default,
            _ => Source::Unset,
        }
    }
}

/// Why the settings could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Bad flags or environment: clap's own error.
    Arguments(clap::Error),
    /// A bad config file: one line, naming the file, the line and the key.
    File(String),
}

/// Parses `args` (with the program name first) with the environment, the config file (from
/// --config or AUTHD_CONFIG) and the preset under them.
pub fn load(args: Vec<OsString>) -> Result<Loaded, LoadError> {
    let command = Cli::command();
    let first = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(LoadError::Arguments)?;
    let mut given = BTreeMap::new();
    let mut extra: Vec<String> = Vec::new();
    if let Some(path) = first.get_one::<PathBuf>("config") {
        let settings = file::read(path, &command).map_err(LoadError::File)?;
        for FileSetting {
            id, place, args, ..
        } in settings
        {
            if below_flags(&first, &id) {
                given.insert(id, Source::File(place));
                extra.extend(args);
            }
        }
    }
    let second = reparse(&args, &extra)?;
    if let Some(name) = second.get_one::<preset::Preset>("preset") {
        for (id, arg) in preset::settings(*name, &second) {
            if below_flags(&second, id) && !given.contains_key(id) {
                given.insert(id.to_owned(), Source::Preset(name.name()));
                extra.push(arg);
            }
        }
    }
    let matches = reparse(&args, &extra)?;
    let cli = Cli::from_arg_matches(&matches).map_err(LoadError::Arguments)?;
    Ok(Loaded {
        cli,
        sources: Sources { matches, given },
    })
}

/// Whether the setting `id` is left to the layers below the flags and the environment.
fn below_flags(matches: &ArgMatches, id: &str) -> bool {
    !matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// `args` with `extra` right after the program's name (global flags may come first).
fn reparse(args: &[OsString], extra: &[String]) -> Result<ArgMatches, LoadError> {
    let mut all: Vec<OsString> = Vec::with_capacity(args.len() + extra.len());
    all.extend(args.first().cloned());
    all.extend(extra.iter().map(OsString::from));
    all.extend(args.iter().skip(1).cloned());
    Cli::command()
        .try_get_matches_from(all)
        .map_err(LoadError::Arguments)
}
