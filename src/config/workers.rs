//! The workers `run` supervises: one from `-- CMD` or the file's `command`, or several named
//! ones from the file's `[workers.NAME]` tables, each resolved into a [`WorkerSpec`].
//!
//! A worker's table may set the worker's own keys (`command`, `replicas`, `env`,
//! `working_dir` (relative to the file), `optional`, `output`) and override the per-worker
//! settings of the top level (stop and restart, task queues and pollers). Layering stays
//! flag > environment > file > default; inside the file, a worker's own table comes before the
//! top level.

use std::ffi::OsString;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::config::file::Scalar;
use crate::config::health::{PollerSettings, resolve_pollers};
use crate::config::keys::*;
use crate::config::layers::{Resolver, Source};
use crate::config::supervising::{ProcessSettings, resolve_process};
use crate::config::{ConfigError, WaitSettings};

/// The name of the one worker of `-- CMD` or the file's top-level `command`.
pub const SINGLE: &str = "worker";

/// A `[workers.NAME]` table as written: its own keys, and overrides of per-worker settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    /// The program and its arguments.
    pub command: Option<Vec<String>>,
    /// How many copies to run (1 by default).
    pub replicas: Option<u32>,
    /// Variables added to (or, with an empty value, set empty in) the worker's environment.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Where the worker runs; a relative path is taken from the config file's directory.
    pub working_dir: Option<PathBuf>,
    /// An optional worker that exhausts its restarts is only logged; it does not end `run`.
    #[serde(default)]
    pub optional: bool,
    /// `prefix` (each line with the worker's name) or `inherit` (stdio untouched).
    pub output: Option<String>,
    pub task_queues: Option<Scalar>,
    pub task_queue_type: Option<Scalar>,
    pub poller_deadline: Option<Scalar>,
    pub worker_identity: Option<Scalar>,
    pub deployment_name: Option<Scalar>,
    pub build_id: Option<Scalar>,
    pub stop_signal: Option<Scalar>,
    pub stop_timeout: Option<Scalar>,
    pub restart: Option<Scalar>,
    pub restart_delay: Option<Scalar>,
    pub restart_max_delay: Option<Scalar>,
    pub restart_reset_after: Option<Scalar>,
    pub max_restarts: Option<Scalar>,
}

impl WorkerFile {
    /// The table's value for a per-worker setting, by the setting's top-level key name.
    pub fn value(&self, key: &str) -> Option<&Scalar> {
        match key {
            "task_queue" => self.task_queues.as_ref(),
            "task_queue_type" => self.task_queue_type.as_ref(),
            "poller_deadline" => self.poller_deadline.as_ref(),
            "worker_identity" => self.worker_identity.as_ref(),
            "deployment_name" => self.deployment_name.as_ref(),
            "build_id" => self.build_id.as_ref(),
            "stop_signal" => self.stop_signal.as_ref(),
            "stop_timeout" => self.stop_timeout.as_ref(),
            "restart" => self.restart.as_ref(),
            "restart_delay" => self.restart_delay.as_ref(),
            "restart_max_delay" => self.restart_max_delay.as_ref(),
            "restart_reset_after" => self.restart_reset_after.as_ref(),
            "max_restarts" => self.max_restarts.as_ref(),
            _ => None,
        }
    }
}

/// The key as a worker's table spells it (a list of task queues is `task_queues` there).
pub fn worker_key_name(key: &Key) -> &'static str {
    if key.name == TASK_QUEUE.name {
        "task_queues"
    } else {
        key.name
    }
}

/// How a worker process is named in logs, output and metrics: the worker's name, with `[N]`
/// when it has several replicas.
pub fn label(worker: &WorkerSpec, replica: u32) -> String {
    if worker.replicas > 1 {
        format!("{}[{replica}]", worker.name)
    } else {
        worker.name.clone()
    }
}

/// One worker, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    pub name: String,
    pub command: Vec<OsString>,
    pub replicas: u32,
    /// Added to the worker's environment (after the connection handed over).
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    pub optional: bool,
    /// Prefix each line of its output with its name, instead of passing stdio through.
    pub prefix_output: bool,
    pub process: ProcessSettings,
    pub pollers: PollerSettings,
}

/// The workers of this run: `-- CMD` (`cli_command`, `Some` for `run`) or the file's
/// `command`, or its `[workers.NAME]` tables. For other commands, the per-worker settings are
/// still resolved once, for validation and the `config` report.
pub fn resolve(
    r: &mut Resolver<'_>,
    cli_command: Option<&[OsString]>,
    wait: &WaitSettings,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkerSpec>, ConfigError> {
    let (path, top_command, named) = match r.file() {
        Some(file) => (
            Some(file.path.clone()),
            file.values.command.clone(),
            file.values.workers.keys().cloned().collect::<Vec<_>>(),
        ),
        None => (None, None, Vec::new()),
    };
    let file_source = |key: &str| Source::File {
        path: path.clone().unwrap_or_default(),
        key: key.to_string(),
    };
    if !named.is_empty() {
        if cli_command.is_some_and(|c| !c.is_empty()) {
            return Err(ConfigError(format!(
                "{}: the file names workers ([workers.{}]); give no command after -- or \
                 remove the [workers] tables",
                file_source("workers"),
                named[0]
            )));
        }
        if top_command.is_some() {
            return Err(ConfigError(format!(
                "{}: the file has a top-level command and [workers] tables; use one or the \
                 other",
                file_source("command")
            )));
        }
        return named
            .iter()
            .map(|name| resolve_named(r, name, wait, warnings, named.len()))
            .collect();
    }
    let command: Option<Vec<OsString>> = match (cli_command.filter(|c| !c.is_empty()), top_command)
    {
        (Some(cli), _) => Some(cli.to_vec()),
        (None, Some(file)) if file.is_empty() => {
            return Err(ConfigError(format!(
                "{}: expected a program and its arguments, found an empty list",
                file_source("command")
            )));
        }
        (None, Some(file)) => Some(file.into_iter().map(OsString::from).collect()),
        (None, None) => None,
    };
    if command.is_none() && cli_command.is_some() {
        return Err(ConfigError(
            "run needs a command: CMD after --, `command` in the config file, or \
             [workers.NAME] tables"
                .into(),
        ));
    }
    let process = resolve_process(r, None, wait)?;
    let pollers = resolve_pollers(r, None, warnings)?;
    Ok(command
        .map(|command| WorkerSpec {
            name: SINGLE.into(),
            command,
            replicas: 1,
            env: Vec::new(),
            working_dir: None,
            optional: false,
            prefix_output: false,
            process,
            pollers,
        })
        .into_iter()
        .collect())
}

fn resolve_named(
    r: &mut Resolver<'_>,
    name: &str,
    wait: &WaitSettings,
    warnings: &mut Vec<String>,
    workers: usize,
) -> Result<WorkerSpec, ConfigError> {
    let file = r.file().expect("named workers come from the file");
    let table = &file.values.workers[name];
    let at = |key: &str| Source::File {
        path: file.path.clone(),
        key: format!("workers.{name}.{key}"),
    };
    if !valid_name(name) {
        return Err(ConfigError(format!(
            "{}: invalid worker name '{name}': use letters, digits, '-' and '_'",
            at("")
        )));
    }
    let command = match &table.command {
        None => {
            return Err(ConfigError(format!(
                "{}: missing: every worker needs a command, such as command = [\"python\", \
                 \"worker.py\"]",
                at("command")
            )));
        }
        Some(words) if words.is_empty() => {
            return Err(ConfigError(format!(
                "{}: expected a program and its arguments, found an empty list",
                at("command")
            )));
        }
        Some(words) => words.iter().map(OsString::from).collect(),
    };
    let replicas = match table.replicas {
        Some(0) => {
            return Err(ConfigError(format!(
                "{}: invalid value '0': expected a whole number from 1 up",
                at("replicas")
            )));
        }
        Some(n) => n,
        None => 1,
    };
    let prefix_output = match table.output.as_deref() {
        None => workers > 1 || replicas > 1,
        Some("prefix") => true,
        Some("inherit") => false,
        Some(other) => {
            return Err(ConfigError(format!(
                "{}: invalid value '{other}': expected prefix or inherit",
                at("output")
            )));
        }
    };
    if let Some(variable) = table.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        return Err(ConfigError(format!(
            "{}: invalid variable name '{variable}'",
            at("env")
        )));
    }
    let spec = WorkerSpec {
        name: name.to_string(),
        command,
        replicas,
        env: table
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        // Absolute, so that where the worker starts does not depend on where we were started.
        working_dir: table.working_dir.as_ref().map(|dir| {
            let dir = file
                .path
                .parent()
                .map_or_else(|| dir.clone(), |base| base.join(dir));
            std::path::absolute(&dir).unwrap_or(dir)
        }),
        optional: table.optional,
        prefix_output,
        process: ProcessSettings::default(),
        pollers: PollerSettings::default(),
    };
    let shown_command = table.command.clone().unwrap_or_default().join(" ");
    let source = |key: &str| at(key);
    let mut recorded = vec![
        (
            format!("workers.{name}.command"),
            shown_command,
            source("command"),
        ),
        (
            format!("workers.{name}.replicas"),
            replicas.to_string(),
            if table.replicas.is_some() {
                source("replicas")
            } else {
                Source::Default
            },
        ),
        (
            format!("workers.{name}.output"),
            if prefix_output { "prefix" } else { "inherit" }.into(),
            if table.output.is_some() {
                source("output")
            } else {
                Source::Default
            },
        ),
        (
            format!("workers.{name}.optional"),
            table.optional.to_string(),
            if table.optional {
                source("optional")
            } else {
                Source::Default
            },
        ),
    ];
    if let Some(dir) = &spec.working_dir {
        recorded.push((
            format!("workers.{name}.working_dir"),
            dir.display().to_string(),
            source("working_dir"),
        ));
    }
    if !table.env.is_empty() {
        // Names only: values may be secrets.
        let names: Vec<&str> = table.env.keys().map(String::as_str).collect();
        recorded.push((
            format!("workers.{name}.env"),
            names.join(","),
            source("env"),
        ));
    }
    for (key, value, source) in recorded {
        r.record(&key, value, source);
    }
    let process = resolve_process(r, Some(name), wait)?;
    let pollers = resolve_pollers(r, Some(name), warnings)?;
    Ok(WorkerSpec {
        process,
        pollers,
        ..spec
    })
}

/// Whether `name` can name a worker: letters, digits, '-' and '_' (it goes into log fields,
/// metric labels and `/readyz?worker=NAME`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
