//! Our TOML file, read with serde into [`FileConfig`]. Errors name the file, the line and the
//! key (`config file ts.toml: line 3, key max_retriez: unknown key`).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use crate::cli::Options;
use crate::config::keys::FileConfig;
use crate::config::layers::Source;
use crate::config::{ConfigError, Env, files};

/// Names our config file's location; not a key inside the file.
pub const CONFIG_FLAG: &str = "--config";
pub const CONFIG_ENV: &str = "TEMPORAL_SUPERVISOR_CONFIG";

/// Our file, read and typed.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: FileConfig,
}

/// A value as the file wrote it, before the setting's own parser checks it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// An array of strings (only list settings accept one).
    List(Vec<String>),
}

impl Scalar {
    /// The value as text for the setting's parser; `None` for a list.
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s.clone()),
            Scalar::Integer(i) => Some(i.to_string()),
            Scalar::Float(x) => Some(x.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::List(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (string, number or boolean) or a list of strings")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Integer)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(Scalar::List(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
                Err(de::Error::custom("expected a single value, found a table"))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Reads our file when `--config` or `TEMPORAL_SUPERVISOR_CONFIG` names one.
pub fn load(options: &Options, env: &Env) -> Result<Option<ConfigFile>, ConfigError> {
    let (path, source) = match (
        &options.config,
        env.get(CONFIG_ENV).filter(|v| !v.is_empty()),
    ) {
        (Some(path), _) => (path.clone(), Source::Flag(CONFIG_FLAG)),
        (None, Some(path)) => (PathBuf::from(path), Source::Env(CONFIG_ENV.into())),
        (None, None) => return Ok(None),
    };
    let data = files::read(&path, files::CONFIG_FILE).map_err(|e| {
        ConfigError(format!(
            "config file {} (from {source}): {e}",
            path.display()
        ))
    })?;
    from_data(path, &data).map(Some)
}

/// Our file from its bytes: UTF-8 text, then [`parse`].
pub fn from_data(path: PathBuf, data: &[u8]) -> Result<ConfigFile, ConfigError> {
    let text = std::str::from_utf8(data).map_err(|e| {
        ConfigError(format!(
            "config file {}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.valid_up_to()
        ))
    })?;
    let values =
        parse(text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
    Ok(ConfigFile { path, values })
}

/// Parses the file's text; the error names the line and the key.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| located(text, &e, ""))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        located(text, e.inner(), &path)
    })
}

/// `line N, key K: message`, with serde's long "expected one of ..." lists cut short.
fn located(text: &str, e: &toml::de::Error, path: &str) -> String {
    let mut message = e.message().trim().to_string();
    let mut key = path.to_string();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        key = if path.is_empty() || path == "." {
            name.to_string()
        } else if path.ends_with(name) {
            path.to_string()
        } else {
            format!("{path}.{name}")
        };
        message = "unknown key".into();
    }
    if message == "duplicate key"
        && let Some(span) = e.span()
        && let Some(key) = text.get(span.clone())
    {
        message = format!("duplicate key {}", key.trim());
    }
    let mut place = Vec::new();
    if let Some(span) = e.span() {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        place.push(format!("line {line}"));
    }
    if !key.is_empty() && key != "." {
        place.push(format!("key {key}"));
    }
    if place.is_empty() {
        message
    } else {
        format!("{}: {message}", place.join(", "))
    }
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
