//! The workers: one from `-- CMD` or the file's `command`, or several named ones from the
//! file's `[workers.NAME]` tables, each resolved into a [`WorkerSpec`]. A worker's table sets
//! the worker's own keys ([`WORKER_KEYS`]: `command`, `replicas`, `env`, `working_dir`,
//! `optional`, `output`) and overrides the settings a worker may set (stop and restart, task
//! queues and pollers). Layering stays flag > environment > file > default; inside the file,
//! a worker's table comes before the top level. For `watch`, workers name task queues and no
//! command: the sidecar starts nothing.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::file::{Raw, WORKER_KEYS, WorkerTable};
use crate::config::kinds::{AtLeastOne, Flag, Kind};
use crate::config::resolver::{Resolver, Source, invalid};
use crate::config::settings::{
    PollerSettings, ProcessSettings, resolve_endpoint, resolve_pollers, resolve_process,
};
use crate::config::{ConfigError, WaitSettings};

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
    wait: &WaitSettings,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkerSpec>, ConfigError> {
    let (path, top_command, named) = match r.file() {
        Some(file) => (
            file.path.clone(),
            file.command.clone(),
            file.workers.keys().cloned().collect::<Vec<_>>(),
        ),
        None => (PathBuf::new(), None, Vec::new()),
    };
    let at = |key: &str| Source::File {
        path: path.clone(),
        key: key.to_string(),
    };
    let cli = match purpose {
        Workers::Run(cli) => cli,
        _ => &[],
    };
    if !named.is_empty() {
        if !cli.is_empty() {
            return Err(ConfigError(format!(
                "{}: the file names workers ([workers.{}]); give no command after -- or \
                 remove the [workers] tables",
                at("workers"),
                named[0]
            )));
        }
        if top_command.is_some() {
            return Err(ConfigError(format!(
                "{}: the file has a top-level command and [workers] tables; use one or the \
                 other",
                at("command")
            )));
        }
        return named
            .iter()
            .map(|name| resolve_named(r, name, purpose, wait, warnings, named.len()))
            .collect();
    }
    let command: Vec<OsString> = match (cli.is_empty(), top_command) {
        (false, _) => cli.to_vec(),
        (true, Some(file)) if file.is_empty() => {
            return Err(ConfigError(format!(
                "{}: expected a program and its arguments, found an empty list",
                at("command")
            )));
        }
        (true, Some(file)) => file.into_iter().map(OsString::from).collect(),
        (true, None) => Vec::new(),
    };
    if purpose == Workers::Watch && !command.is_empty() {
        return Err(ConfigError(format!(
            "{}: watch starts nothing: it proves a worker by its task queues, with no command",
            at("command")
        )));
    }
    if command.is_empty() && matches!(purpose, Workers::Run(_)) {
        return Err(ConfigError(
            "run needs a command: CMD after --, `command` in the config file, or \
             [workers.NAME] tables"
                .into(),
        ));
    }
    let process = resolve_process(r, None, wait)?;
    let pollers = resolve_pollers(r, None, warnings)?;
    if purpose == Workers::None {
        return Ok(Vec::new());
    }
    let endpoint = resolve_endpoint(r, None, purpose != Workers::Watch)?;
    if purpose == Workers::Watch && pollers.task_queues.is_empty() {
        return Err(ConfigError(
            "watch proves the workers by their pollers: give --task-queue \
             (TEMPORAL_SUPERVISOR_TASK_QUEUE, task_queue), or [workers.NAME] tables with \
             task_queues"
                .into(),
        ));
    }
    Ok(vec![WorkerSpec {
        name: SINGLE.into(),
        command,
        replicas: 1,
        env: Vec::new(),
        working_dir: None,
        optional: false,
        prefix_output: false,
        process,
        pollers,
        endpoint,
    }])
}

fn resolve_named(
    r: &mut Resolver<'_>,
    name: &str,
    purpose: Workers<'_>,
    wait: &WaitSettings,
    warnings: &mut Vec<String>,
    workers: usize,
) -> Result<WorkerSpec, ConfigError> {
    let file = r.file().expect("named workers come from the file");
    let path = file.path.clone();
    let table: WorkerTable = file.workers[name].clone();
    let at = |key: &str| Source::File {
        path: path.clone(),
        key: format!("workers.{name}.{key}"),
    };
    if !valid_name(name) {
        return Err(ConfigError(format!(
            "{}: invalid worker name '{name}': use letters, digits, '-' and '_'",
            at("")
        )));
    }
    let own = |key: &str| table.own.get(key);
    let text = |key: &str| -> Result<Option<(String, Source)>, ConfigError> {
        match own(key) {
            Some(Raw::Text(t)) => Ok(Some((t.clone(), at(key)))),
            Some(Raw::List(_)) => Err(ConfigError(format!(
                "{}: expected a single value, found a list",
                at(key)
            ))),
            None => Ok(None),
        }
    };
    let command: Vec<OsString> = match (own("command"), purpose) {
        (Some(Raw::List(words)), Workers::Watch) if !words.is_empty() => {
            return Err(ConfigError(format!(
                "{}: watch starts nothing: a worker of watch names its task queues, no command",
                at("command")
            )));
        }
        (Some(Raw::List(words)), _) if words.is_empty() => {
            return Err(ConfigError(format!(
                "{}: expected a program and its arguments, found an empty list",
                at("command")
            )));
        }
        (Some(Raw::List(words)), _) => words.iter().map(OsString::from).collect(),
        (Some(Raw::Text(_)), _) => {
            return Err(ConfigError(format!(
                "{}: expected a program and its arguments as a list, such as [\"python\", \
                 \"worker.py\"]",
                at("command")
            )));
        }
        (None, Workers::Watch) => Vec::new(),
        (None, _) => {
            return Err(ConfigError(format!(
                "{}: missing: every worker needs a command, such as command = [\"python\", \
                 \"worker.py\"]",
                at("command")
            )));
        }
    };
    let parsed = |key: &str, parse: fn(&str, &str) -> Result<u32, String>| match text(key)? {
        Some((t, source)) => parse(&t, "")
            .map(Some)
            .map_err(|e| invalid(&source, &t, &e)),
        None => Ok(None),
    };
    let replicas = parsed("replicas", AtLeastOne::parse)?.unwrap_or(1);
    let optional = match text("optional")? {
        Some((t, source)) => Flag::parse(&t, "").map_err(|e| invalid(&source, &t, &e))?,
        None => false,
    };
    let prefix_output = match text("output")? {
        None => workers > 1 || replicas > 1,
        Some((t, _)) if t == "prefix" => true,
        Some((t, _)) if t == "inherit" => false,
        Some((t, source)) => return Err(invalid(&source, &t, "expected prefix or inherit")),
    };
    if let Some(variable) = table.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        return Err(ConfigError(format!(
            "{}: invalid variable name '{variable}'",
            at("env")
        )));
    }
    // Absolute, so that where the worker starts does not depend on where we were started.
    let working_dir = text("working_dir")?.map(|(dir, _)| {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from(&dir), |base| base.join(&dir));
        std::path::absolute(&dir).unwrap_or(dir)
    });
    let env: Vec<(String, String)> = table
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let shown_command = command
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let source_of = |key: &str| own(key).map_or(Source::Default, |_| at(key));
    let mut recorded = vec![
        ("replicas", replicas.to_string()),
        (
            "output",
            if prefix_output { "prefix" } else { "inherit" }.into(),
        ),
        ("optional", optional.to_string()),
    ];
    if !command.is_empty() {
        recorded.insert(0, ("command", shown_command));
    }
    if let Some(dir) = &working_dir {
        recorded.push(("working_dir", dir.display().to_string()));
    }
    if !env.is_empty() {
        // Names only: values may be secrets.
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        recorded.push(("env", names.join(",")));
    }
    debug_assert!(
        recorded
            .iter()
            .all(|(k, _)| WORKER_KEYS.iter().any(|(w, _)| w == k))
    );
    for (key, value) in recorded {
        let source = source_of(key);
        r.record(&format!("workers.{name}.{key}"), value, source);
    }
    if purpose == Workers::Watch {
        let started = ["replicas", "working_dir", "output"];
        let given = started.into_iter().find(|key| own(key).is_some());
        if let Some(key) = given.or((!table.env.is_empty()).then_some("env")) {
            return Err(ConfigError(format!(
                "{}: watch starts nothing, so its workers take no {key}",
                at(key)
            )));
        }
    }
    let process = resolve_process(r, Some(name), wait)?;
    let pollers = resolve_pollers(r, Some(name), warnings)?;
    let endpoint = resolve_endpoint(r, Some(name), purpose != Workers::Watch)?;
    if let Some(listen) = endpoint.filter(|e| e.port() != 0 && replicas > 1) {
        return Err(ConfigError(format!(
            "worker {name}: endpoint_listen {listen} is one port for {replicas} replicas; \
             leave it unset (a free port for each)"
        )));
    }
    if purpose == Workers::Watch && pollers.task_queues.is_empty() {
        return Err(ConfigError(format!(
            "{}: missing: watch proves a worker by its pollers; give it task_queues",
            at("task_queues")
        )));
    }
    Ok(WorkerSpec {
        name: name.to_string(),
        command,
        replicas,
        env,
        working_dir,
        optional,
        prefix_output,
        process,
        pollers,
        endpoint,
    })
}
