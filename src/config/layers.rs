//! Looking a setting up through the layers: flag, environment variable, our file, then the
//! caller's fallback (Temporal's profile or a default). Every resolved value is recorded with
//! its source for the `config` report.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use crate::cli::Options;
use crate::config::file::ConfigFile;
use crate::config::file::Scalar;
use crate::config::keys::*;
use crate::config::workers::worker_key_name;
use crate::config::{ConfigError, Env};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    Flag(&'static str),
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

/// One line of the `config` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// Resolves settings through the layers, recording each for the report.
pub struct Resolver<'a> {
    flags: HashMap<&'static str, String>,
    env: &'a Env,
    file: Option<ConfigFile>,
    report: Vec<Setting>,
}

impl<'a> Resolver<'a> {
    pub fn new(options: &Options, env: &'a Env, file: Option<ConfigFile>) -> Resolver<'a> {
        Resolver {
            flags: flag_values(options),
            env,
            file,
            report: Vec::new(),
        }
    }

    pub fn into_report(self) -> Vec<Setting> {
        self.report
    }

    /// The raw text of a setting from flag, environment or our file, with its source.
    pub fn raw(&self, key: &Key) -> Result<Option<(String, Source)>, ConfigError> {
        self.raw_in(key, None)
    }

    /// Like [`Resolver::raw`], for one worker of our file: its own table comes between the
    /// environment and the file's top level.
    pub fn raw_in(
        &self,
        key: &Key,
        worker: Option<&str>,
    ) -> Result<Option<(String, Source)>, ConfigError> {
        if let Some(value) = self.flags.get(key.name) {
            return Ok(Some((value.clone(), Source::Flag(key.flag))));
        }
        if let Some(value) = self.env.get(key.env).filter(|v| !v.is_empty()) {
            return Ok(Some((value.clone(), Source::Env(key.env.to_string()))));
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let in_worker = worker.and_then(|name| {
            let table = file.values.workers.get(name)?;
            Some((
                table.value(key.name)?,
                format!("workers.{name}.{}", worker_key_name(key)),
            ))
        });
        let (value, key_path) = match in_worker {
            Some(found) => found,
            None => match (key.in_file)(&file.values) {
                Some(value) => (value, key.name.to_string()),
                None => return Ok(None),
            },
        };
        let source = Source::File {
            path: file.path.clone(),
            key: key_path,
        };
        let text = match (value.text(), value) {
            (Some(text), _) => text,
            (None, Scalar::List(items)) if LIST_KEYS.contains(&key.name) => items.join(","),
            (None, _) => {
                return Err(ConfigError(format!(
                    "{source}: expected a single value, found a list"
                )));
            }
        };
        Ok(Some((text, source)))
    }

    /// Resolves a setting with a parser, falling back to `default`.
    pub fn get<T>(
        &mut self,
        key: &Key,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<T, ConfigError> {
        self.get_in(key, None, default, parse, show)
    }

    /// Like [`Resolver::get`], for one worker (recorded as `workers.NAME.key`).
    pub fn get_in<T>(
        &mut self,
        key: &Key,
        worker: Option<&str>,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<T, ConfigError> {
        let (value, source) = match self.raw_in(key, worker)? {
            Some((text, source)) => (
                parse(&text).map_err(|e| invalid(&source, &text, &e))?,
                source,
            ),
            None => (default, Source::Default),
        };
        let name = match worker {
            Some(worker) => format!("workers.{worker}.{}", worker_key_name(key)),
            None => key.name.to_string(),
        };
        self.record(&name, show(&value), source);
        Ok(value)
    }

    /// Our file, if one was given.
    pub fn file(&self) -> Option<&ConfigFile> {
        self.file.as_ref()
    }

    pub fn record(&mut self, name: &str, value: String, source: Source) {
        self.report.push(Setting {
            name: name.to_string(),
            value,
            source,
        });
    }
}

/// `<source>: invalid value '<text>': <reason>`, the shape of every bad-value error.
pub fn invalid(source: &Source, text: &str, reason: &str) -> ConfigError {
    ConfigError(format!("{source}: invalid value '{text}': {reason}"))
}

fn flag_values(o: &Options) -> HashMap<&'static str, String> {
    let pairs = [
        (ADDRESS, &o.address),
        (NAMESPACE, &o.namespace),
        (API_KEY, &o.api_key),
        (TLS, &o.tls),
        (TLS_CA_PATH, &o.tls_ca_path),
        (TLS_CERT_PATH, &o.tls_cert_path),
        (TLS_KEY_PATH, &o.tls_key_path),
        (TLS_SERVER_NAME, &o.tls_server_name),
        (PROFILE, &o.profile),
        (MAX_RETRIES, &o.max_retries),
        (INITIAL_DELAY, &o.initial_delay),
        (MAX_DELAY, &o.max_delay),
        (BACKOFF_FACTOR, &o.backoff_factor),
        (JITTER, &o.jitter),
        (TIMEOUT, &o.timeout),
        (ATTEMPT_TIMEOUT, &o.attempt_timeout),
        (PORT_WATCH_INTERVAL, &o.port_watch_interval),
        (RECHECK_INTERVAL, &o.recheck_interval),
        (KEEPALIVE_INTERVAL, &o.keepalive_interval),
        (KEEPALIVE_TIMEOUT, &o.keepalive_timeout),
        (STOP_SIGNAL, &o.stop_signal),
        (STOP_TIMEOUT, &o.stop_timeout),
        (PROBE_INTERVAL, &o.probe_interval),
        (PROBE_TIMEOUT, &o.probe_timeout),
        (FAILURE_THRESHOLD, &o.failure_threshold),
        (SUCCESS_THRESHOLD, &o.success_threshold),
        (ON_DISCONNECT, &o.on_disconnect),
        (RESTART_SPREAD, &o.restart_spread),
        (RESTART, &o.restart),
        (RESTART_DELAY, &o.restart_delay),
        (RESTART_MAX_DELAY, &o.restart_max_delay),
        (RESTART_RESET_AFTER, &o.restart_reset_after),
        (MAX_RESTARTS, &o.max_restarts),
        (HEALTH_LISTEN, &o.health_listen),
        (TASK_QUEUE_TYPE, &o.task_queue_type),
        (POLLER_DEADLINE, &o.poller_deadline),
        (WORKER_IDENTITY, &o.worker_identity),
        (DEPLOYMENT_NAME, &o.deployment_name),
        (BUILD_ID, &o.build_id),
        (EXPORT_CONNECTION, &o.export_connection),
        (LOG_FORMAT, &o.log_format),
        (LOG_LEVEL, &o.log_level),
    ];
    let mut flags: HashMap<&'static str, String> = pairs
        .into_iter()
        .filter_map(|(key, value)| Some((key.name, value.clone()?)))
        .collect();
    if !o.task_queue.is_empty() {
        flags.insert(TASK_QUEUE.name, o.task_queue.join(","));
    }
    flags
}

/// Renders the `config` report: one aligned line per setting.
pub fn render_report(report: &[Setting]) -> String {
    let name_width = report.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let value_width = report
        .iter()
        .map(|s| s.value.len())
        .max()
        .unwrap_or(0)
        .min(40);
    report
        .iter()
        .map(|s| {
            format!(
                "{:name_width$} = {:value_width$}  ({})\n",
                s.name, s.value, s.source
            )
        })
        .collect()
}
