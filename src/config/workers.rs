//! The workers: one from `-- CMD` or the file's `command`, or several named ones from the
//! file's `[workers.NAME]` tables, each resolved into a [`WorkerSpec`]. A worker's table sets
//! the worker's own keys ([`WorkerKeys`](crate::config::file::WorkerKeys): `command`,
//! `replicas`, `env`, `working_dir`, `optional`, `output`) and overrides the settings a worker may set (stop and restart, task
//! queues and pollers). Layering stays flag > environment > file > default; inside the file,
//! a worker's table comes before the top level. For `watch`, workers name task queues and no
//! command: the sidecar starts nothing.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::config::file::{Output, WorkerKeys};
use crate::config::resolver::{Resolver, Source};
use crate::config::settings::{
    PollerSettings, ProcessSettings, resolve_endpoint, resolve_pollers, resolve_process,
};

/// The name of the one worker of `-- CMD` or the file's top-level `command`.
pub const SINGLE: &str = "worker";

/// What the command asks of its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers<'a> {
    /// `run`: each needs a command; `-- CMD` given (possibly empty).
    Run(&'a [OsString]),
    /// `watch`: workers by their task queues, without commands.
    Watch,
    /// Other commands: the settings are still resolved, for validation and the report.
    None,
}

/// One worker, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    pub name: String,
    /// Empty for `watch`.
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
    /// Where its endpoint listens (port 0: a free one); `None`: the worker connects to
    /// Temporal itself.
    pub endpoint: Option<std::net::SocketAddr>,
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

/// Whether `name` can name a worker: letters, digits, '-' and '_' (it goes into log fields,
/// metric labels and `/readyz?worker=NAME`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The workers of this command.
pub fn resolve(
    r: &mut Resolver<'_>,
    purpose: Workers<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkerSpec>, ConfigError> {
    let (top, named) = match r.file() {
        Some(f) => (f.command.clone(), f.workers.keys().cloned().collect()),
        None => (None, Vec::<String>::new()),
    };
    let cli = match purpose {
        Workers::Run(cli) => cli,
        _ => &[],
    };
    let Some(first) = named.first() else {
        let single = resolve_one(r, None, cli, top, purpose, warnings, 1)?;
        return Ok(if purpose == Workers::None {
            vec![]
        } else {
            vec![single]
        });
    };
    let path = r.file().map(|f| f.path.clone()).unwrap_or_default();
    let at = |key: &str| Source::File {
        path,
        key: key.into(),
    };
    if !cli.is_empty() {
        let problem = format!(
            "the file names workers ([workers.{first}]); give no command after -- or remove \
             the [workers] tables"
        );
        return Err(ConfigError::at(at("workers"), problem));
    }
    if top.is_some() {
        let problem = "the file has a top-level command and [workers] tables; use one or the other";
        return Err(ConfigError::at(at("command"), problem));
    }
    let count = named.len();
    named
        .iter()
        .map(|name| {
            let words = r.file().and_then(|f| f.workers[name].own.command.clone());
            resolve_one(r, Some(name), &[], words, purpose, warnings, count)
        })
        .collect()
}

/// A worker's command: `-- CMD`, else the file's; required under `run`, refused under `watch`.
fn command(
    cli: &[OsString],
    file: Option<Vec<String>>,
    purpose: Workers<'_>,
    at: Source,
    named: bool,
) -> Result<Vec<OsString>, ConfigError> {
    let problem = match (cli, file, purpose) {
        ([_, ..], _, _) => return Ok(cli.to_vec()),
        ([], Some(words), _) if words.is_empty() => {
            "expected a program and its arguments, found an empty list"
        }
        ([], Some(_), Workers::Watch) => {
            "watch starts nothing: it proves a worker by its task queues, with no command"
        }
        ([], Some(words), _) => return Ok(words.into_iter().map(OsString::from).collect()),
        ([], None, Workers::Run(_)) if named => {
            "missing: every worker needs a command, such as command = [\"python\", \"worker.py\"]"
        }
        ([], None, Workers::Run(_)) => {
            return Err(ConfigError(
                "run needs a command: CMD after --, `command` in the config file, or \
                 [workers.NAME] tables"
                    .into(),
            ));
        }
        ([], None, _) => return Ok(Vec::new()),
    };
    Err(ConfigError::at(at, problem))
}

/// One worker: `name` for a `[workers.NAME]` table, `None` for the single one of `-- CMD` or
/// the file's `command`.
fn resolve_one(
    r: &mut Resolver<'_>,
    name: Option<&str>,
    cli: &[OsString],
    words: Option<Vec<String>>,
    purpose: Workers<'_>,
    warnings: &mut Vec<String>,
    workers: usize,
) -> Result<WorkerSpec, ConfigError> {
    let key = |key: &str| name.map_or(key.to_string(), |n| format!("workers.{n}.{key}"));
    let path = r.file().map(|f| f.path.clone()).unwrap_or_default();
    let at = |k: &str| Source::File {
        path: path.clone(),
        key: key(k),
    };
    let own = match name {
        Some(name) => r
            .file()
            .map(|f| f.workers[name].own.clone())
            .unwrap_or_default(),
        None => WorkerKeys::default(),
    };
    check_own(name.unwrap_or(SINGLE), &own, purpose, &at)?;
    let command = command(cli, words, purpose, at("command"), name.is_some())?;
    let replicas = own.replicas.map_or(1, |n| n.get());
    let prefix_output = own
        .output
        .map_or(workers > 1 || replicas > 1, |o| o == Output::Prefix);
    // Absolute, so that where the worker starts does not depend on where we were started.
    let working_dir = own.working_dir.as_ref().map(|dir| {
        let dir = path
            .parent()
            .map_or_else(|| dir.clone(), |base| base.join(dir));
        std::path::absolute(&dir).unwrap_or(dir)
    });
    let process = resolve_process(r, name)?;
    let pollers = resolve_pollers(r, name, warnings)?;
    let endpoint = resolve_endpoint(r, name, purpose != Workers::Watch)?;
    let shown = name.unwrap_or(SINGLE);
    if let Some(listen) = endpoint.filter(|e| e.port() != 0 && replicas > 1) {
        return Err(ConfigError(format!(
            "worker {shown}: endpoint_listen {listen} is one port for {replicas} replicas; \
             leave it unset (a free port for each)"
        )));
    }
    if purpose == Workers::Watch && pollers.task_queues.is_empty() {
        return Err(match name {
            Some(_) => ConfigError::at(
                at("task_queues"),
                "missing: watch proves a worker by its pollers; give it task_queues",
            ),
            None => ConfigError(
                "watch proves the workers by their pollers: give --task-queue \
                 (TEMPORAL_SUPERVISOR_TASK_QUEUE, task_queue), or [workers.NAME] tables with \
                 task_queues"
                    .into(),
            ),
        });
    }
    let spec = WorkerSpec {
        name: shown.to_string(),
        command,
        replicas,
        env: own.env.clone().into_iter().collect(),
        working_dir,
        optional: own.optional.unwrap_or(false),
        prefix_output,
        process,
        pollers,
        endpoint,
    };
    if let Some(name) = name {
        record_own(r, name, &spec, &own);
    }
    Ok(spec)
}

/// A named worker's name and own keys are valid, and under `watch` it starts nothing.
fn check_own(
    name: &str,
    own: &WorkerKeys,
    purpose: Workers<'_>,
    at: &dyn Fn(&str) -> Source,
) -> Result<(), ConfigError> {
    if !valid_name(name) {
        let problem = format!("invalid worker name '{name}': use letters, digits, '-' and '_'");
        return Err(ConfigError::at(at(""), problem));
    }
    if let Some(variable) = own.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        let problem = format!("invalid variable name '{variable}'");
        return Err(ConfigError::at(at("env"), problem));
    }
    if purpose == Workers::Watch {
        let started = [
            ("replicas", own.replicas.is_some()),
            ("working_dir", own.working_dir.is_some()),
            ("output", own.output.is_some()),
            ("env", !own.env.is_empty()),
        ];
        if let Some((key, _)) = started.into_iter().find(|(_, given)| *given) {
            let problem = format!("watch starts nothing, so its workers take no {key}");
            return Err(ConfigError::at(at(key), problem));
        }
    }
    Ok(())
}

/// Records a named worker's own keys for the report: of its env, the names only (the values
/// may be secrets).
fn record_own(r: &mut Resolver<'_>, name: &str, spec: &WorkerSpec, own: &WorkerKeys) {
    let path = r.file().map(|f| f.path.clone()).unwrap_or_default();
    let words: Vec<_> = spec.command.iter().map(|w| w.to_string_lossy()).collect();
    let dir = spec.working_dir.as_ref().map(|d| d.display().to_string());
    let names: Vec<&str> = own.env.keys().map(String::as_str).collect();
    let output = if spec.prefix_output {
        "prefix"
    } else {
        "inherit"
    };
    let keys = [
        (
            "command",
            true,
            (!words.is_empty()).then(|| words.join(" ")),
        ),
        (
            "replicas",
            own.replicas.is_some(),
            Some(spec.replicas.to_string()),
        ),
        ("output", own.output.is_some(), Some(output.to_string())),
        (
            "optional",
            own.optional.is_some(),
            Some(spec.optional.to_string()),
        ),
        ("working_dir", true, dir),
        ("env", true, (!names.is_empty()).then(|| names.join(","))),
    ];
    for (key, given, value) in keys {
        let key = format!("workers.{name}.{key}");
        let source = match given {
            true => Source::File {
                path: path.clone(),
                key: key.clone(),
            },
            false => Source::Default,
        };
        if let Some(value) = value {
            r.record(&key, value, source);
        }
    }
}
