//! Configuration: sources, layering and validation.
//!
//! Every setting is looked up in the same order, the first source that has it wins:
//!
//! 1. a command-line flag (`--max-retries`),
//! 2. the environment (`TEMPORAL_SUPERVISOR_MAX_RETRIES`; connection settings use Temporal's own
//!    names, `TEMPORAL_ADDRESS` and friends),
//! 3. our TOML file, from `--config` / `TEMPORAL_SUPERVISOR_CONFIG` (`max_retries = 10`),
//! 4. for connection settings, Temporal's profile file (`TEMPORAL_CONFIG_FILE`, else
//!    `~/.config/temporalio/temporal.toml`, profile from `--profile` / `TEMPORAL_PROFILE`), read by
//!    the Temporal client's own envconfig loader,
//! 5. the default.
//!
//! The pieces: [`keys`] names every setting (flag, variable, file key) and types the file;
//! [`file`] reads the file with serde; [`layers`] looks a setting up through the layers and
//! records where it came from; [`values`] parses and checks values; [`connection`] and
//! [`settings`] resolve the connection and everything else into typed settings.
//!
//! Flags and variables arrive as text, file values as TOML scalars turned into text, so one
//! parser checks a value whatever its source, and a bad one becomes a [`ConfigError`]: one line
//! naming the value and its source. Each resolved value is also recorded with its source for
//! `temporal-supervisor config`, with secrets redacted.

pub mod connection;
pub mod env;
pub mod file;
pub mod files;
pub mod health;
pub mod keys;
pub mod layers;
pub mod pem;
pub mod profile;
pub mod settings;
pub mod supervising;
pub mod values;
pub mod workers;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt;

pub use connection::{ConnectionSettings, EnvChange, Pem, TlsSettings};
pub use env::Env;
pub use health::{Deployment, HealthSettings, PollerSettings, QueueType};
pub use layers::{Setting, Source, render_report};
pub use settings::{LogFormat, LogSettings, WaitSettings};
pub use supervising::{MonitorSettings, OnDisconnect, ProcessSettings, RestartPolicy, RunSettings};
pub use values::parse_address;
pub use workers::WorkerSpec;

use crate::cli::Options;

/// A configuration or usage error: fatal, reported as one line, exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads the process environment (see [`Env`] for values that are not UTF-8).
pub fn process_env() -> Env {
    Env::from_process()
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub connection: ConnectionSettings,
    pub wait: WaitSettings,
    pub monitor: MonitorSettings,
    pub run: RunSettings,
    /// The workers `run` supervises (one for `-- CMD`); empty for other commands.
    pub workers: Vec<WorkerSpec>,
    pub health: HealthSettings,
    pub log: LogSettings,
    /// Every setting with its shown (redacted) value and source, for `config`.
    pub report: Vec<Setting>,
    /// Things worth saying once logging is up (e.g. an API key sent in clear text).
    pub warnings: Vec<String>,
}

/// Resolves the whole configuration from parsed options, the command after `--` (for `run`
/// and `exec`), and an environment.
pub fn resolve(
    options: &Options,
    command: Option<&[OsString]>,
    env: &Env,
) -> Result<Config, ConfigError> {
    env.check_text()?;
    let file = file::load(options, env)?;
    let profile_file = profile::read(env)?;
    resolve_read(options, command, env, file, profile_file.as_ref())
}

/// Resolves with our file's content given as bytes, no flags, and an empty environment: how
/// the fuzz targets and their corpus replay feed a config file ([`crate::fuzz`]).
pub fn resolve_file_data(data: &[u8]) -> Result<Config, ConfigError> {
    let file = file::from_data("fuzzed.toml".into(), data)?;
    let env = Env::default();
    resolve_read(&Options::default(), None, &env, Some(file), None)
}

/// Resolves with Temporal's profile file given as bytes, no flags, and an empty environment:
/// how the fuzz targets and their corpus replay feed a profile file ([`crate::fuzz`]).
pub fn resolve_profile_data(data: &[u8]) -> Result<Config, ConfigError> {
    let profile = profile::ProfileFile {
        path: "fuzzed/temporal.toml".into(),
        from: layers::Source::Default,
        data: Some(data.to_vec()),
    };
    let env = Env::default();
    resolve_read(&Options::default(), None, &env, None, Some(&profile))
}

/// [`resolve`] once the files are read: our file, and Temporal's profile file.
fn resolve_read(
    options: &Options,
    command: Option<&[OsString]>,
    env: &Env,
    file: Option<file::ConfigFile>,
    profile_file: Option<&profile::ProfileFile>,
) -> Result<Config, ConfigError> {
    let mut resolver = layers::Resolver::new(options, env, file);
    let mut warnings = Vec::new();
    let connection = connection::resolve(&mut resolver, env, profile_file, &mut warnings)?;
    let wait = settings::resolve_wait(&mut resolver)?;
    let monitor = supervising::resolve_monitor(&mut resolver, &wait)?;
    let run = supervising::resolve_run(&mut resolver)?;
    let workers = workers::resolve(&mut resolver, command, &wait, &mut warnings)?;
    let health = health::resolve(&mut resolver)?;
    let log = settings::resolve_log(&mut resolver, env)?;
    Ok(Config {
        connection,
        wait,
        monitor,
        run,
        workers,
        health,
        log,
        report: resolver.into_report(),
        warnings,
    })
}
