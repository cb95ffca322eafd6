//! The `--config` file: a flat TOML table whose keys are `serve`'s long flag names. Each key
//! becomes its flag's default before the command line is parsed, so clap keeps the one
//! precedence (flags, then `EPHEMAIL_*` variables, then the file, then built-in defaults) and
//! checks a value from the file exactly as it checks the same value given as a flag.
//!
//! `ephemail config print` renders the effective settings back as such a file, each line saying
//! where its value came from, secrets redacted.

use std::{
    ffi::OsString,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use clap::{parser::ValueSource, Arg, ArgAction, ArgMatches, Command};

/// The environment variable naming the file when `--config` is not given.
const CONFIG_ENV: &str = "EPHEMAIL_CONFIG";

/// A parsed configuration file: each flag's value(s) as text, in the file's order.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    settings: Vec<(String, Vec<String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading the configuration file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not valid TOML: {1}")]
    Syntax(PathBuf, toml::de::Error),
    #[error("{path}: `{key}` {problem}")]
    Key {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

impl ConfigFile {
    /// The file named by `--config` in `args` or by `EPHEMAIL_CONFIG`, if any, read and parsed.
    pub fn find(args: &[OsString]) -> Result<Option<Self>, FileError> {
        let Some(path) = named_path(args) else {
            return Ok(None);
        };
        let text =
            std::fs::read_to_string(&path).map_err(|error| FileError::Read(path.clone(), error))?;
        Self::parse(&path, &text).map(Some)
    }

    fn parse(path: &Path, text: &str) -> Result<Self, FileError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|error| FileError::Syntax(path.to_owned(), error))?;
        let mut settings = Vec::with_capacity(table.len());
        for (key, value) in table {
            let values = match value {
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|item| scalar(&item))
                    .collect::<Option<Vec<_>>>(),
                value => scalar(&value).map(|text| vec![text]),
            };
            let values = values.ok_or_else(|| FileError::Key {
                path: path.to_owned(),
                key: key.clone(),
                problem: "must be a string, number or boolean, or an array of them".to_owned(),
            })?;
            settings.push((key, values));
        }
        Ok(Self {
            path: path.to_owned(),
            settings,
        })
    }

    /// `command` with the file's values as the defaults of its subcommands' flags. `serve` and
    /// `config print` take every setting, and a key that is none of their flags is an error, so
    /// that a misspelt setting is not ignored; the commands that only open the database take
    /// the database's settings (`database-url`, `data-dir`, ...) and ignore the rest.
    pub fn apply_to_all(&self, command: Command) -> Result<Command, FileError> {
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        let mut command = command;
        for name in names {
            let Some(sub) = command.find_subcommand(&name).cloned() else {
                continue;
            };
            let strict = matches!(name.as_str(), "serve" | "print");
            let layered = if sub
                .get_arguments()
                .any(|arg| arg.get_long() == Some("config"))
            {
                self.apply(sub, strict)?
            } else {
                self.apply_to_all(sub)?
            };
            command = command.mut_subcommand(name, |_| layered);
        }
        Ok(command)
    }

    fn apply(&self, mut command: Command, strict: bool) -> Result<Command, FileError> {
        for (key, values) in &self.settings {
            let id = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(key.as_str()) && key != "config")
                .map(|arg| arg.get_id().clone());
            match id {
                Some(id) => command = command.mut_arg(id, |arg| arg.default_values(values.clone())),
                None if strict => return Err(self.unknown_key(&command, key)),
                None => {}
            }
        }
        Ok(command)
    }

    fn unknown_key(&self, command: &Command, key: &str) -> FileError {
        let dashed = key.replace('_', "-");
        let known = command
            .get_arguments()
            .any(|arg| arg.get_long() == Some(dashed.as_str()));
        let problem = if known && dashed != key {
            format!("is not a setting; did you mean `{dashed}`? (keys are the flags' long names)")
        } else {
            format!(
                "is not a setting of `ephemail {}` (keys are its flags' long names)",
                command.get_name()
            )
        };
        FileError::Key {
            path: self.path.clone(),
            key: key.to_owned(),
            problem,
        }
    }

    fn sets(&self, key: &str) -> bool {
        self.settings.iter().any(|(name, _)| name == key)
    }
}

/// `--config PATH` or `--config=PATH` among `args`, else `EPHEMAIL_CONFIG`.
fn named_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|arg| arg.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// A TOML scalar as the text a flag would take.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        toml::Value::Boolean(flag) => Some(flag.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// The effective settings of `command` as parsed into `matches`, as a configuration file: one
/// `key = value` line per flag that has a value, with where it came from; secrets (the flags
/// whose environment values are hidden) show as `[redacted]`, commented out.
pub fn render(command: &Command, matches: &ArgMatches, file: Option<&ConfigFile>) -> String {
    let mut out = String::new();
    if let Some(file) = file {
        let _ = writeln!(out, "# effective settings; file: {}", file.path.display());
    } else {
        out.push_str("# effective settings; no configuration file\n");
    }
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long().filter(|long| *long != "config") else {
            continue;
        };
        let id = arg.get_id().as_str();
        let Some(raw) = matches.get_raw(id) else {
            let _ = writeln!(out, "# {long}  (not set)");
            continue;
        };
        let values: Vec<String> = raw
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => {
                arg.get_env().map_or("environment".to_owned(), |env| {
                    env.to_string_lossy().into_owned()
                })
            }
            _ if file.is_some_and(|file| file.sets(long)) => "file".to_owned(),
            _ => "default".to_owned(),
        };
        if arg.is_hide_env_values_set() {
            // Commented out, so that the printout stays a usable file: the secret is given
            // again where it came from.
            let _ = writeln!(out, "# {long} = [redacted]  # {source}");
        } else {
            let _ = writeln!(out, "{long} = {}  # {source}", toml_value(arg, values));
        }
    }
    out
}

/// Numbers and booleans bare, everything else quoted; repeatable flags as arrays. (The file
/// takes either form: a value is read as the flag's text.)
fn toml_value(arg: &Arg, values: Vec<String>) -> toml::Value {
    let one = |text: String| {
        if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            if let Ok(flag) = text.parse() {
                return toml::Value::Boolean(flag);
            }
        }
        match text.parse::<i64>() {
            Ok(number) if number.to_string() == text => toml::Value::Integer(number),
            _ => toml::Value::String(text),
        }
    };
    if matches!(arg.get_action(), ArgAction::Append) {
        toml::Value::Array(values.into_iter().map(one).collect())
    } else {
        values
            .into_iter()
            .next()
            .map_or(toml::Value::String(String::new()), one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_tables_and_nested_tables_are_refused() {
        let error = ConfigFile::parse(Path::new("x.toml"), "[smtp]\naddr = 1\n").unwrap_err();
        assert!(
            error.to_string().contains("`smtp` must be a string"),
            "{error}"
        );
    }

    #[test]
    fn the_path_comes_from_the_flag_in_either_spelling() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let named = named_path(&args(&["ephemail", "serve", "--config", "a.toml"]));
        assert_eq!(named, Some(PathBuf::from("a.toml")));
        let named = named_path(&args(&["ephemail", "serve", "--config=b.toml"]));
        assert_eq!(named, Some(PathBuf::from("b.toml")));
    }
}
