//! Our TOML file, read through the bounded reader and checked against the settings table: a
//! top-level key is a setting's key, `command` (the one worker's program and arguments) or
//! `workers` (`[workers.NAME]` tables, whose keys are the settings a worker may set, its own
//! keys among them, and its `command` and `env`). An unknown key, a value of the wrong shape
//! or a TOML error names the file, the line and the key (`config file ts.toml: line 3, key
//! max_retriez: unknown key`). Values stay text here: the settings' own parsers check them, so
//! an error reads the same whatever the source.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::source::Source;
use crate::config::table::{self, Def};
use crate::config::{ConfigError, Result};
use crate::files;

/// Our file, read and checked.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// The top level: settings, and the one worker's `command`.
    pub top: Table,
    /// Named workers' tables, in the order written.
    pub workers: IndexMap<String, Table>,
}

/// The top level, or a `[workers.NAME]` table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The settings it sets (a worker's own keys among them), by their top-level key, in the
    /// order written, as text (a list's items joined with commas).
    pub settings: IndexMap<String, String>,
    /// The program and its arguments.
    pub command: Option<Vec<String>>,
    /// A worker's: added to its environment.
    pub env: IndexMap<String, String>,
}

/// Reads our file, `path` from `source`.
pub fn load(path: &Path, source: &Source) -> Result<ConfigFile> {
    let shown = path.display();
    let data = files::read(path, files::CONFIG_FILE)
        .map_err(|e| ConfigError(format!("config file {shown} (from {source}): {e}")))?;
    from_data(path.to_path_buf(), &data)
}

/// Our file from its bytes: UTF-8 text, then [`parse`].
pub fn from_data(path: PathBuf, data: &[u8]) -> Result<ConfigFile> {
    let in_file = |e: String| ConfigError(format!("config file {}: {e}", path.display()));
    let text = std::str::from_utf8(data).map_err(|e| {
        let at = e.valid_up_to();
        in_file(format!("not UTF-8 text (invalid byte at offset {at})"))
    })?;
    let parsed = parse(text).map_err(in_file)?;
    Ok(ConfigFile { path, ..parsed })
}

/// Parses the file's text; an error names the line and the key.
pub fn parse(text: &str) -> Result<ConfigFile, String> {
    let doc = DeTable::parse(text).map_err(|e| {
        let key = match (e.message(), e.span().and_then(|s| text.get(s))) {
            ("duplicate key", Some(k)) => format!(" {}", k.trim()),
            _ => String::new(),
        };
        located(text, e.span(), "", &format!("{}{key}", e.message().trim()))
    })?;
    let mut file = ConfigFile::default();
    file.top = parse_table(text, "", doc.get_ref(), Some(&mut file.workers))?;
    Ok(file)
}

/// A table's keys: `command` and settings; at the top level (`path` empty) the file's
/// settings and `workers`, which fills `workers`; in a worker's table the settings a worker
/// may set and `env`.
fn parse_table(
    text: &str,
    path: &str,
    keys: &DeTable<'_>,
    mut workers: Option<&mut IndexMap<String, Table>>,
) -> Result<Table, String> {
    let mut parsed = Table::default();
    for (key, value) in keys {
        let name = key.get_ref().as_ref();
        let at = match path {
            "" => name.to_string(),
            path => format!("{path}.{name}"),
        };
        let def = match workers {
            Some(_) => table::by_key(name).filter(|d| d.in_file),
            None => table::by_worker_key(name),
        };
        let refuse = refusing(text, &at, value);
        match (name, value.get_ref(), workers.as_deref_mut()) {
            ("command", _, _) => parsed.command = Some(command(text, &at, value)?),
            ("workers", DeValue::Table(named), Some(workers)) => {
                for (worker, keys) in named {
                    let at = format!("{at}.{}", worker.get_ref());
                    let DeValue::Table(keys) = keys.get_ref() else {
                        return Err(refusing(text, &at, keys)("expected a table"));
                    };
                    let keys = parse_table(text, &at, keys, None)?;
                    workers.insert(worker.get_ref().to_string(), keys);
                }
            }
            ("workers", _, Some(_)) => return Err(refuse("expected [workers.NAME] tables")),
            ("env", DeValue::Table(vars), None) => {
                for (var, value) in vars {
                    let DeValue::String(v) = value.get_ref() else {
                        let at = format!("{at}.{}", var.get_ref());
                        return Err(refusing(text, &at, value)("expected a string (in quotes)"));
                    };
                    parsed.env.insert(var.get_ref().to_string(), v.to_string());
                }
            }
            ("env", _, None) => return Err(refuse("expected a table of variables")),
            _ => match def {
                Some(def) => {
                    let raw = raw(text, &at, value, def)?;
                    parsed.settings.insert(def.key.into(), raw);
                }
                None => return Err(located(text, Some(key.span()), &at, "unknown key")),
            },
        }
    }
    Ok(parsed)
}

/// A command: a program and its arguments.
fn command(text: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Result<Vec<String>, String> {
    let refuse = refusing(text, key, value);
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => Err(refuse(
            "expected a program and its arguments, found an empty list",
        )),
        DeValue::Array(items) => strings(text, key, items),
        _ => Err(refuse(
            "expected a program and its arguments as a list, such as [\"python\", \"worker.py\"]",
        )),
    }
}

/// A setting's value as text: a string, number or boolean, or a list of strings (its items
/// joined with commas) where the setting takes one.
fn raw(text: &str, key: &str, value: &Spanned<DeValue<'_>>, def: &Def) -> Result<String, String> {
    let at = refusing(text, key, value);
    match value.get_ref() {
        DeValue::Array(items) if def.shape == table::Shape::List => {
            Ok(strings(text, key, items)?.join(","))
        }
        DeValue::Array(_) => Err(at("expected a single value, found a list")),
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) if i.radix() == 10 => Ok(i.as_str().to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(|n| n.to_string())
            .map_err(|_| at("number too large")),
        DeValue::Float(f) => Ok(f.as_str().to_string()),
        DeValue::Boolean(b) => Ok(b.to_string()),
        DeValue::Table(_) => Err(at("expected a single value, found a table")),
        _ => Err(at("expected a single value (a string, number or boolean)")),
    }
}

/// The items of an array, each a string.
fn strings(text: &str, key: &str, items: &[Spanned<DeValue<'_>>]) -> Result<Vec<String>, String> {
    let item = |(i, item): (usize, &Spanned<DeValue<'_>>)| match item.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        _ => {
            let found = text.get(item.span()).unwrap_or_default().trim();
            let at = format!("{key}[{i}]");
            let problem = format!("expected a string, found {found}");
            Err(refusing(text, &at, item)(&problem))
        }
    };
    items.iter().enumerate().map(item).collect()
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
    let line = span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let line = line.map(|n| format!("line {n}"));
    let key = (!key.is_empty()).then(|| format!("key {key}"));
    match line.into_iter().chain(key).collect::<Vec<_>>() {
        place if place.is_empty() => message.to_string(),
        place => format!("{}: {message}", place.join(", ")),
    }
}
