//! The process environment, as a value that tests can build, which remembers the variables
//! whose values are not UTF-8 instead of silently dropping them: a variable we read that
//! cannot be text is an error that names it (`TEMPORAL_ADDRESS=$'\xff:7233'` must not become
//! `localhost:7233`), while an unrelated one is simply passed on to the workers untouched.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;

use crate::config::source::Source;
use crate::config::table::ALL;
use crate::config::{ConfigError, Result};

/// Variables read besides the settings' own (the table's, inline PEM included): Temporal's
/// environment configuration as its loader reads it, our file's location, logging, and where
/// Temporal's profile file lives.
const ALSO_READ: &[&str] = &[
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_CODEC_AUTH",
    "RUST_LOG",
    "NO_COLOR",
    "HOME",
    "XDG_CONFIG_HOME",
];

/// Prefixes of variables read as families: Temporal's gRPC headers and our own settings
/// (`TEMPORAL_SUPERVISOR_CONFIG` and any we may add).
const ALSO_READ_PREFIXES: &[&str] = &["TEMPORAL_GRPC_META_", "TEMPORAL_SUPERVISOR_"];

/// Whether the supervisor reads this variable.
pub fn read_by_us(name: &str) -> bool {
    ALL.iter().any(|def| def.env == name || def.inline == name)
        || ALSO_READ.contains(&name)
        || ALSO_READ_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The environment: the variables that are text, and the names of those that are not.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// Names of variables whose values are not UTF-8 (kept out of `vars`).
    not_utf8: BTreeSet<String>,
}

impl Env {
    /// An environment from raw names and values (this process's: `std::env::vars_os()`). A
    /// name that is not UTF-8 cannot be one we read, and is left out.
    pub fn from_os(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Env {
        let mut env = Env::default();
        for (name, value) in vars {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => _ = env.vars.insert(name, value),
                (Ok(name), Err(_)) => _ = env.not_utf8.insert(name),
                (Err(_), _) => {}
            }
        }
        env
    }

    pub fn get(&self, name: &str) -> Option<&String> {
        self.vars.get(name)
    }

    #[cfg(test)]
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.not_utf8.remove(&name);
        self.vars.insert(name, value.into());
    }

    /// The text variables, for Temporal's envconfig loader.
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// Fails, naming the first one, when a variable we read is not UTF-8. The value is never
    /// shown: it could be a secret (`TEMPORAL_API_KEY`).
    pub fn check_text(&self) -> Result<()> {
        match self.not_utf8.iter().find(|name| read_by_us(name)) {
            Some(name) => Err(ConfigError::at(
                Source::Env(name.clone()),
                "the value is not valid UTF-8 text",
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
impl FromIterator<(String, String)> for Env {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Env {
        Env {
            vars: iter.into_iter().collect(),
            not_utf8: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn raw(name: &str, value: &[u8]) -> (OsString, OsString) {
        (OsString::from(name), OsString::from_vec(value.to_vec()))
    }

    #[test]
    fn a_variable_we_read_that_is_not_text_is_named() {
        for name in [
            "TEMPORAL_ADDRESS",
            "TEMPORAL_API_KEY",
            "TEMPORAL_CONFIG_FILE",
            "TEMPORAL_GRPC_META_X_TEAM",
            "TEMPORAL_SUPERVISOR_MAX_RETRIES",
            "TEMPORAL_SUPERVISOR_CONFIG",
            "TEMPORAL_WORKER_BUILD_ID",
            "RUST_LOG",
            "HOME",
            "XDG_CONFIG_HOME",
            "NO_COLOR",
        ] {
            let env = Env::from_os([raw(name, b"\xff\xfe:7233"), raw("PATH", b"/bin")]);
            let error = env.check_text().expect_err(name).0;
            assert!(error.contains(name), "{error}");
            assert!(!error.contains("7233"), "the value is never shown: {error}");
            assert_eq!(env.get(name), None);
        }
    }

    #[test]
    fn unrelated_variables_that_are_not_text_break_nothing() {
        let env = Env::from_os([
            raw("LANG_BYTES", b"\xff"),
            raw("TEMPORAL_ADDRESS", b"127.0.0.1:7233"),
            (
                OsString::from_vec(b"NAME\xff".to_vec()),
                OsString::from("TEMPORAL_ADDRESS"),
            ),
        ]);
        assert_eq!(env.check_text(), Ok(()));
        assert_eq!(
            env.get("TEMPORAL_ADDRESS").map(String::as_str),
            Some("127.0.0.1:7233")
        );
    }
}
