//! Configuration: sources, layering and validation.
//!
//! Every setting is looked up in the same order, the first source that has it wins:
//!
//! 1. a command-line flag (`--max-retries`),
//! 2. the environment (`TEMPORAL_SUPERVISOR_MAX_RETRIES`; connection settings use Temporal's own
//!    names, `TEMPORAL_ADDRESS` and friends),
//! 3. our TOML file, from `--config` / `TEMPORAL_SUPERVISOR_CONFIG` (`max_retries = 10`); for
//!    a worker's settings, its `[workers.NAME]` table before the top level,
//! 4. for connection settings, Temporal's profile file (`TEMPORAL_CONFIG_FILE`, else
//!    `~/.config/temporalio/temporal.toml`, profile from `--profile` / `TEMPORAL_PROFILE`), read by
//!    the Temporal client's own envconfig loader,
//! 5. the default.
//!
//! The pieces: [`table`] defines every setting once (and the command line, the file's keys,
//! the defaults, the report and the reference come from it); [`kinds`] parses and shows each
//! kind of value; [`file`](mod@file) reads and checks our file; [`resolver`] looks a setting up through
//! the layers and records where it came from; [`settings`], [`workers`], [`connection`] (with
//! [`tls`] and [`profile`]) build the typed settings; [`env`](mod@env) is the environment we were
//! given; `docs.rs` renders the reference (a test checks it).
//!
//! Flags and variables arrive as text, file values as TOML scalars turned into text, so one
//! parser checks a value whatever its source, and a bad one becomes a [`ConfigError`]: one line
//! naming the value and its source.

pub mod address;
pub mod choices;
pub mod connection;
#[cfg(test)]
mod docs;
pub mod env;
pub mod file;
pub mod kinds;
pub mod profile;
pub mod resolver;
pub mod settings;
pub mod source;
pub mod table;
pub mod tls;
pub mod workers;

#[cfg(test)]
mod tests;

use std::fmt;

pub use choices::{LogFormat, OnDisconnect, QueueType, RestartPolicy};
pub use connection::ConnectionSettings;
pub use env::Env;
pub use resolver::{Flags, Setting, render_report};
pub use settings::{
    Deployment, HealthSettings, LogSettings, MonitorSettings, PollerSettings, ProcessSettings,
    RunSettings, WaitSettings,
};
pub use tls::TlsSettings;
pub use workers::{WorkerSpec, Workers};

use crate::config::resolver::Resolver;

/// A configuration or usage error: fatal, reported as one line, exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A result whose error is a [`ConfigError`] unless another is named (as `io::Result`).
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl ConfigError {
    /// `<where>: <problem>`, the shape of every error about a value: `at` names its source.
    pub fn at(at: impl fmt::Display, problem: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{at}: {problem}"))
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub connection: ConnectionSettings,
    pub wait: WaitSettings,
    pub monitor: MonitorSettings,
    pub run: RunSettings,
    /// The workers of `run` (one for `-- CMD`) or `watch`; empty for other commands.
    pub workers: Vec<WorkerSpec>,
    pub health: HealthSettings,
    pub log: LogSettings,
    /// The `PATH` we were given: where a worker's program is looked up, unless its own
    /// environment sets one.
    pub path: Option<String>,
    /// Every setting with its shown (redacted) value and source, for `config`.
    pub report: Vec<Setting>,
    /// Things worth saying once logging is up (e.g. an API key sent in clear text).
    pub warnings: Vec<String>,
}

/// Resolves the whole configuration from the flags as typed, what the command needs of its
/// workers, and an environment.
pub fn resolve(flags: &Flags, workers: Workers<'_>, env: &Env) -> Result<Config> {
    env.check_text()?;
    let mut r = Resolver::new(flags.clone(), env);
    let path = r.get_opt(table::CONFIG, None)?;
    r.file = path.map(|p| file::load(&p.value, &p.source)).transpose()?;
    let profile_file = profile::read(env)?;
    resolve_with(r, workers, env, profile_file.as_ref())
}

/// [`resolve`] once the files are read (also how [`crate::fuzz`] feeds our file and
/// Temporal's profile file as bytes).
pub(crate) fn resolve_with(
    mut r: Resolver<'_>,
    workers: Workers<'_>,
    env: &Env,
    profile_file: Option<&profile::ProfileFile>,
) -> Result<Config> {
    let mut warnings = Vec::new();
    let connection = connection::resolve(&mut r, env, profile_file, &mut warnings)?;
    let wait = WaitSettings::resolve(&mut r, None)?;
    let monitor = MonitorSettings::resolve(&mut r, None)?;
    let run = RunSettings::resolve(&mut r, None)?;
    let watch = workers == Workers::Watch;
    let workers = workers::resolve(&mut r, workers, &mut warnings)?;
    let health = HealthSettings::resolve(&mut r, None)?;
    if watch && health.listen.is_none() {
        let problem = "watch answers on its health endpoints: give --health-listen \
            (TEMPORAL_SUPERVISOR_HEALTH_LISTEN, health_listen), such as --health-listen :8080";
        return Err(ConfigError(problem.into()));
    }
    let log = settings::resolve_log(&mut r, env)?;
    let report = r.into_report();
    if watch {
        let drains = workers.iter().any(|w| w.endpoint.is_some());
        warnings.extend(ignored_by_watch(&report, drains));
    }
    Ok(Config {
        connection,
        wait,
        monitor,
        run,
        workers,
        health,
        log,
        path: env.get("PATH").cloned(),
        report,
        warnings,
    })
}

/// A warning for each setting given that only `run` uses: `watch` starts nothing (but, with an
/// endpoint, drains by the stop settings).
fn ignored_by_watch(report: &[Setting], drains: bool) -> Vec<String> {
    let stop = [table::STOP_TIMEOUT.def.key, table::STOP_GRACE.def.key];
    report
        .iter()
        .filter(|s| s.source != resolver::Source::Default)
        .filter(|s| {
            let key = s.name.rsplit('.').next().unwrap_or_default();
            table::by_key(key)
                .or_else(|| table::by_worker_key(key))
                .is_some_and(|d| {
                    (d.section == table::Section::SUPERVISING && !(drains && stop.contains(&d.key)))
                        || d.key == table::POLLER_DEADLINE.def.key
                })
        })
        .map(|Setting { name, source, .. }| {
            format!("{name} ({source}) does not apply to watch, which starts nothing")
        })
        .collect()
}
