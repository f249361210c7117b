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
    let (path, top_command, named) = match r.file() {
        Some(f) => (
            f.path.clone(),
            f.command.clone(),
            f.workers.keys().cloned().collect(),
        ),
        None => (PathBuf::new(), None, Vec::<String>::new()),
    };
    let at = |key: &str| Source::File {
        path: path.clone(),
        key: key.to_string(),
    };
    let cli = match purpose {
        Workers::Run(cli) => cli,
        _ => &[],
    };
    if named.is_empty() {
        let command = single_command(cli, top_command, purpose, &at("command"))?;
        let worker = resolve_one(r, None, command, purpose, warnings, 1)?;
        return Ok(if purpose == Workers::None {
            Vec::new()
        } else {
            vec![worker]
        });
    }
    if !cli.is_empty() {
        let problem = format!(
            "the file names workers ([workers.{}]); give no command after -- or remove the \
             [workers] tables",
            named[0]
        );
        return Err(ConfigError::at(at("workers"), problem));
    }
    if top_command.is_some() {
        let problem = "the file has a top-level command and [workers] tables; use one or the other";
        return Err(ConfigError::at(at("command"), problem));
    }
    let file = r.file().expect("named workers come from the file");
    let commands: Vec<_> = named
        .iter()
        .map(|name| file.workers[name].own.command.clone())
        .collect();
    let at = |name: &str, key: &str| at(&format!("workers.{name}.{key}"));
    named
        .iter()
        .zip(commands)
        .map(|(name, words)| {
            let command = named_command(words.as_deref(), purpose, &at(name, "command"))?;
            resolve_one(r, Some(name), command, purpose, warnings, named.len())
        })
        .collect()
}

/// The one worker's command: `-- CMD`, else the file's `command`; required under `run`,
/// refused under `watch`.
fn single_command(
    cli: &[OsString],
    file: Option<Vec<String>>,
    purpose: Workers<'_>,
    at: &Source,
) -> Result<Vec<OsString>, ConfigError> {
    let command: Vec<OsString> = match (cli.is_empty(), file) {
        (false, _) => cli.to_vec(),
        (true, Some(file)) if file.is_empty() => {
            let problem = "expected a program and its arguments, found an empty list";
            return Err(ConfigError::at(at, problem));
        }
        (true, Some(file)) => file.into_iter().map(OsString::from).collect(),
        (true, None) => Vec::new(),
    };
    if purpose == Workers::Watch && !command.is_empty() {
        let problem =
            "watch starts nothing: it proves a worker by its task queues, with no command";
        return Err(ConfigError::at(at, problem));
    }
    if command.is_empty() && matches!(purpose, Workers::Run(_)) {
        return Err(ConfigError(
            "run needs a command: CMD after --, `command` in the config file, or \
             [workers.NAME] tables"
                .into(),
        ));
    }
    Ok(command)
}

/// One worker: `name` for a `[workers.NAME]` table, `None` for the single one.
fn resolve_one(
    r: &mut Resolver<'_>,
    name: Option<&str>,
    command: Vec<OsString>,
    purpose: Workers<'_>,
    warnings: &mut Vec<String>,
    workers: usize,
) -> Result<WorkerSpec, ConfigError> {
    let path = r.file().map(|f| f.path.clone()).unwrap_or_default();
    let at = |key: &str| Source::File {
        path: path.clone(),
        key: format!("workers.{}.{key}", name.unwrap_or_default()),
    };
    let own = match name {
        Some(name) => r.file().expect("named workers come from the file").workers[name]
            .own
            .clone(),
        None => WorkerKeys::default(),
    };
    check_own(name.unwrap_or(SINGLE), &own, purpose, &at)?;
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
    if let Some(name) = name {
        record_own(
            r,
            name,
            &own,
            &command,
            prefix_output,
            working_dir.as_deref(),
        );
    }
    let process = resolve_process(r, name)?;
    let pollers = resolve_pollers(r, name, warnings)?;
    let endpoint = resolve_endpoint(r, name, purpose != Workers::Watch)?;
    let (named, name) = (name.is_some(), name.unwrap_or(SINGLE).to_string());
    if let Some(listen) = endpoint.filter(|e| e.port() != 0 && replicas > 1) {
        return Err(ConfigError(format!(
            "worker {name}: endpoint_listen {listen} is one port for {replicas} replicas; \
             leave it unset (a free port for each)"
        )));
    }
    if purpose == Workers::Watch && pollers.task_queues.is_empty() {
        return Err(match named {
            true => {
                let problem = "missing: watch proves a worker by its pollers; give it task_queues";
                ConfigError::at(at("task_queues"), problem)
            }
            false => ConfigError(
                "watch proves the workers by their pollers: give --task-queue \
                 (TEMPORAL_SUPERVISOR_TASK_QUEUE, task_queue), or [workers.NAME] tables with \
                 task_queues"
                    .into(),
            ),
        });
    }
    Ok(WorkerSpec {
        name,
        command,
        replicas,
        env: own.env.into_iter().collect(),
        working_dir,
        optional: own.optional.unwrap_or(false),
        prefix_output,
        process,
        pollers,
        endpoint,
    })
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
fn record_own(
    r: &mut Resolver<'_>,
    name: &str,
    own: &WorkerKeys,
    command: &[OsString],
    prefix_output: bool,
    working_dir: Option<&std::path::Path>,
) {
    let path = r.file().map(|f| f.path.clone()).unwrap_or_default();
    let mut record = |key: &str, given: bool, value: String| {
        let key = format!("workers.{name}.{key}");
        let source = match given {
            true => Source::File {
                path: path.clone(),
                key: key.clone(),
            },
            false => Source::Default,
        };
        r.record(&key, value, source);
    };
    if !command.is_empty() {
        let words: Vec<_> = command.iter().map(|w| w.to_string_lossy()).collect();
        record("command", true, words.join(" "));
    }
    let replicas = own.replicas.map_or(1, |n| n.get());
    record("replicas", own.replicas.is_some(), replicas.to_string());
    let output = if prefix_output { "prefix" } else { "inherit" };
    record("output", own.output.is_some(), output.into());
    let optional = own.optional.unwrap_or(false).to_string();
    record("optional", own.optional.is_some(), optional);
    if let Some(dir) = working_dir {
        record("working_dir", true, dir.display().to_string());
    }
    if !own.env.is_empty() {
        let names: Vec<&str> = own.env.keys().map(String::as_str).collect();
        record("env", true, names.join(","));
    }
}

/// A named worker's command: required under `run`, refused under `watch`.
fn named_command(
    words: Option<&[String]>,
    purpose: Workers<'_>,
    at: &Source,
) -> Result<Vec<OsString>, ConfigError> {
    let problem = match (words, purpose) {
        (Some([_, ..]), Workers::Watch) => {
            "watch starts nothing: a worker of watch names its task queues, no command"
        }
        (Some([]), _) => "expected a program and its arguments, found an empty list",
        (Some(words), _) => return Ok(words.iter().map(OsString::from).collect()),
        (None, Workers::Watch) => return Ok(Vec::new()),
        (None, _) => {
            "missing: every worker needs a command, such as command = [\"python\", \"worker.py\"]"
        }
    };
    Err(ConfigError::at(at, problem))
}
