//! Where a value came from, carried with the value (as cargo's `Value<T>` does), so that any
//! error, one between two settings included, can name where each came from.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    Flag(String),
    Env(String),
    File {
        path: PathBuf,
        key: String,
    },
    Profile {
        path: String,
        profile: String,
    },
    /// Turned on because other settings need it (TLS for an API key or certificates).
    Implied(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File { path, key } => write!(f, "config file {}, key {key}", path.display()),
            Source::Profile { path, profile } => {
                write!(f, "Temporal profile '{profile}' in {path}")
            }
            Source::Implied(why) => write!(f, "implied by {why}"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}
