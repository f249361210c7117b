//! Our TOML file, read through the bounded reader and checked against the settings table: a
//! top-level key is a setting's key, `command` (the one worker's program and arguments) or
//! `workers` (`[workers.NAME]` tables, whose keys are the settings a worker may set and its own
//! keys, [`WorkerKeys`], a typed table). An unknown key, a table where a value belongs, or a TOML error names the file, the
//! line and the key (`config file ts.toml: line 3, key max_retriez: unknown key`). Values stay
//! text here: the settings' own parsers check them, so an error reads the same whatever the
//! source.

use std::path::{Path, PathBuf};

use std::num::NonZeroU32;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::ConfigError;
use crate::config::source::Source;
use crate::config::table::{self, Def};
use crate::files;

/// A setting's value as the file wrote it: one value as text, or a list of strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Text(String),
    List(Vec<String>),
}

/// Our file, read and checked.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Top-level settings, by key, in the order written.
    pub settings: IndexMap<String, Raw>,
    /// The one worker's program and arguments (instead of `-- CMD`).
    pub command: Option<Vec<String>>,
    /// Named workers, in the order written.
    pub workers: IndexMap<String, WorkerTable>,
}

/// A `[workers.NAME]` table.
#[derive(Debug, Clone, Default)]
pub struct WorkerTable {
    /// The settings it overrides, by their top-level key.
    pub settings: IndexMap<String, Raw>,
    /// Its own keys.
    pub own: WorkerKeys,
}

/// A worker's own keys (besides the settings a worker may set), typed: an unknown key or a
/// value of the wrong type is an error that names its line and key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerKeys {
    /// The program and its arguments.
    pub command: Option<Vec<String>>,
    pub replicas: Option<NonZeroU32>,
    /// Added to its environment.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Relative to the file's directory.
    pub working_dir: Option<PathBuf>,
    pub optional: Option<bool>,
    pub output: Option<Output>,
}

/// What becomes of a worker's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// Each line prefixed with the worker's name.
    Prefix,
    /// Passed through.
    Inherit,
}

/// Reads our file, `path` from `source`.
pub fn load(path: &Path, source: &Source) -> Result<ConfigFile, ConfigError> {
    let data = files::read(path, files::CONFIG_FILE).map_err(|e| {
        ConfigError(format!(
            "config file {} (from {source}): {e}",
            path.display()
        ))
    })?;
    from_data(path.to_path_buf(), &data)
}

/// Our file from its bytes: UTF-8 text, then [`parse`].
pub fn from_data(path: PathBuf, data: &[u8]) -> Result<ConfigFile, ConfigError> {
    let in_file = |e: String| ConfigError(format!("config file {}: {e}", path.display()));
    let text = std::str::from_utf8(data).map_err(|e| {
        in_file(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let parsed = parse(text).map_err(in_file)?;
    Ok(ConfigFile { path, ..parsed })
}

/// Parses the file's text; an error names the line and the key.
pub fn parse(text: &str) -> Result<ConfigFile, String> {
    let doc = DeTable::parse(text).map_err(|e| {
        let key = (e.message() == "duplicate key")
            .then(|| e.span().and_then(|s| text.get(s)))
            .flatten()
            .map(|k| format!(" {}", k.trim()))
            .unwrap_or_default();
        located(text, e.span(), "", &format!("{}{key}", e.message().trim()))
    })?;
    let mut file = ConfigFile::default();
    for (key, value) in doc.get_ref() {
        let name = key.get_ref().as_ref();
        match name {
            "command" => file.command = Some(strings(text, name, value)?),
            "workers" => {
                let DeValue::Table(workers) = value.get_ref() else {
                    return Err(located(
                        text,
                        Some(value.span()),
                        name,
                        "expected [workers.NAME] tables",
                    ));
                };
                for (worker, table) in workers {
                    let path = format!("workers.{}", worker.get_ref());
                    let parsed = worker_table(text, &path, table)?;
                    file.workers.insert(worker.get_ref().to_string(), parsed);
                }
            }
            _ => match table::by_key(name).filter(|d| d.in_file) {
                Some(def) => {
                    file.settings
                        .insert(name.into(), raw(text, name, value, def)?);
                }
                None => return Err(located(text, Some(key.span()), name, "unknown key")),
            },
        }
    }
    Ok(file)
}

fn worker_table(
    text: &str,
    path: &str,
    table: &Spanned<DeValue<'_>>,
) -> Result<WorkerTable, String> {
    let DeValue::Table(keys) = table.get_ref() else {
        return Err(located(text, Some(table.span()), path, "expected a table"));
    };
    let mut worker = WorkerTable::default();
    let mut own = toml::map::Map::new();
    for (key, value) in keys {
        let name = key.get_ref().as_ref();
        match table::by_worker_key(name) {
            Some(def) => {
                let at = format!("{path}.{name}");
                let raw = raw(text, &at, value, def)?;
                worker.settings.insert(def.key.into(), raw);
            }
            None => {
                own.insert(key.clone(), value.clone());
            }
        }
    }
    let own = Spanned::new(table.span(), DeValue::Table(own));
    worker.own = serde_path_to_error::deserialize(own.into_deserializer()).map_err(|e| {
        let inner = e.inner();
        let key = match e.path().to_string() {
            at if at == "." => inner
                .span()
                .and_then(|s| text.get(s))
                .unwrap_or_default()
                .into(),
            at => at,
        };
        let shown = inner.span().and_then(|s| text.get(s)).unwrap_or_default();
        let message = own_key_error(&key, inner.message(), shown);
        located(text, inner.span(), &format!("{path}.{key}"), &message)
    })?;
    Ok(worker)
}

/// What a worker's own key takes, said when its value is refused, in our words rather than
/// serde's. The value is shown only for keys whose values cannot be secrets: a command's
/// arguments and the environment's values may hold tokens.
fn own_key_error(key: &str, refusal: &str, shown: &str) -> String {
    if refusal.starts_with("unknown field") {
        return "unknown key".into();
    }
    let takes = match key.split('.').next().unwrap_or_default() {
        "command" => {
            return "expected a program and its arguments as a list, such as [\"python\", \
                    \"worker.py\"]"
                .into();
        }
        "env" if key == "env" => return "expected a table of variables".into(),
        "env" => return "expected a string (in quotes)".into(),
        "replicas" => "a whole number from 1 up",
        "optional" => "true or false",
        "output" => "prefix or inherit",
        "working_dir" => "a path (a string)",
        _ => return refusal.into(),
    };
    format!("invalid value {shown}: expected {takes}")
}

/// A setting's value: a list only where the setting takes one.
fn raw(text: &str, key: &str, value: &Spanned<DeValue<'_>>, def: &Def) -> Result<Raw, String> {
    let at = refusing(text, key, value);
    match value.get_ref() {
        DeValue::Array(_) if def.shape == table::Shape::List => {
            Ok(Raw::List(strings(text, key, value)?))
        }
        DeValue::Array(_) => Err(at("expected a single value, found a list")),
        _ => scalar(text, key, value).map(Raw::Text),
    }
}

/// A string, number or boolean, as text.
fn scalar(text: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Result<String, String> {
    let at = refusing(text, key, value);
    match value.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) if i.radix() == 10 => Ok(i.as_str().replace('_', "")),
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .map(|n| n.to_string())
            .map_err(|_| at("number too large")),
        DeValue::Float(f) => Ok(f.as_str().replace('_', "")),
        DeValue::Boolean(b) => Ok(b.to_string()),
        DeValue::Table(_) => Err(at("expected a single value, found a table")),
        _ => Err(at("expected a single value (a string, number or boolean)")),
    }
}

/// An array of strings.
fn strings(text: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Result<Vec<String>, String> {
    let at = refusing(text, key, value);
    let DeValue::Array(items) = value.get_ref() else {
        return Err(at("expected a list of strings"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => {
                let found = text.get(item.span()).unwrap_or_default().trim();
                let message = format!("expected a string, found {found}");
                Err(located(
                    text,
                    Some(item.span()),
                    &format!("{key}[{i}]"),
                    &message,
                ))
            }
        })
        .collect()
}

/// An error about `value`, at `key`: [`located`] with the value's line.
fn refusing<'a>(
    text: &'a str,
    key: &'a str,
    value: &'a Spanned<DeValue<'_>>,
) -> impl Fn(&str) -> String + 'a {
    move |message| located(text, Some(value.span()), key, message)
}

/// `line N, key K: message`.
fn located(text: &str, span: Option<std::ops::Range<usize>>, key: &str, message: &str) -> String {
    let mut place = Vec::new();
    if let Some(span) = span {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        place.push(format!("line {line}"));
    }
    if !key.is_empty() {
        place.push(format!("key {key}"));
    }
    match place.is_empty() {
        true => message.to_string(),
        false => format!("{}: {message}", place.join(", ")),
    }
}
