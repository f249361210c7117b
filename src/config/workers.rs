//! The workers: one from `-- CMD` or the file's `command`, or several named ones from the
//! file's `[workers.NAME]` tables, each resolved into a [`WorkerSpec`]. A worker's table gives
//! its `command` and `env`, its own keys (the table's `Section::WORKER`: `replicas`,
//! `working_dir`, `optional`, `output`), and overrides the settings a worker may set (stop and
//! restart, task queues and pollers). Layering stays flag > environment > file > default; inside the file,
//! a worker's table comes before the top level. For `watch`, workers name task queues and no
//! command: the sidecar starts nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Result};
use crate::duration;

use crate::config::choices::Output;
use crate::config::file::Table;
use crate::config::resolver::{Resolver, Source};
use crate::config::settings::{PollerSettings, ProcessSettings, resolve_endpoint};
use crate::config::table::{BUILD_ID, DEPLOYMENT_NAME, OPTIONAL, OUTPUT, REPLICAS, WORKING_DIR};

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
) -> Result<Vec<WorkerSpec>> {
    let file = r.file.clone().unwrap_or_default();
    let cli = match purpose {
        Workers::Run(cli) => cli,
        _ => &[],
    };
    let Some(first) = file.workers.keys().next() else {
        let single = resolve_one(r, None, cli, file.top, purpose, warnings, 1)?;
        return Ok(Vec::from_iter((purpose != Workers::None).then_some(single)));
    };
    if !cli.is_empty() {
        let problem = format!(
            "the file names workers ([workers.{first}]); give no command after -- or remove \
             the [workers] tables"
        );
        return Err(ConfigError::at(r.at_file(None, "workers"), problem));
    }
    if file.top.command.is_some() {
        let problem = "the file has a top-level command and [workers] tables; use one or the other";
        return Err(ConfigError::at(r.at_file(None, "command"), problem));
    }
    let count = file.workers.len();
    file.workers
        .into_iter()
        .map(|(name, table)| resolve_one(r, Some(&name), &[], table, purpose, warnings, count))
        .collect()
}

/// A worker's command: `-- CMD`, else the file's; required under `run`, refused under `watch`.
fn command(
    cli: &[OsString],
    file: Option<&[String]>,
    purpose: Workers<'_>,
    at: Source,
    named: bool,
) -> Result<Vec<OsString>> {
    let problem = match (cli, file, purpose) {
        ([_, ..], _, _) => return Ok(cli.to_vec()),
        ([], Some(_), Workers::Watch) => {
            "watch starts nothing: it proves a worker by its task queues, with no command"
        }
        ([], Some(words), _) => return Ok(words.iter().map(OsString::from).collect()),
        ([], None, Workers::Run(_)) if named => {
            "missing: every worker needs a command, such as command = [\"python\", \"worker.py\"]"
        }
        ([], None, Workers::Run(_)) => {
            let problem = "run needs a command: CMD after --, `command` in the config file, or \
                [workers.NAME] tables";
            return Err(ConfigError(problem.into()));
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
    table: Table,
    purpose: Workers<'_>,
    warnings: &mut Vec<String>,
    workers: usize,
) -> Result<WorkerSpec> {
    if let Some(name) = name {
        check_own(r, name, &table, purpose)?;
    }
    let at = r.at_file(name, "command");
    let command = command(cli, table.command.as_deref(), purpose, at, name.is_some())?;
    let (replicas, optional, output, working_dir) = match name {
        Some(_) => (
            r.value(REPLICAS, name)?,
            r.value(OPTIONAL, name)?,
            r.maybe(OUTPUT, name)?,
            r.maybe(WORKING_DIR, name)?,
        ),
        None => (1, false, None, None),
    };
    let prefix_output = output.map_or(workers > 1 || replicas > 1, |o| o == Output::Prefix);
    // Relative to the file, and absolute, so that where the worker starts does not depend on
    // where we were started.
    let base = r
        .file
        .as_ref()
        .and_then(|f| f.path.parent())
        .unwrap_or(Path::new(""));
    let working_dir = working_dir.map(|dir| {
        let dir = base.join(dir);
        std::path::absolute(&dir).unwrap_or(dir)
    });
    if let Some(name) = name {
        record_own(r, name, &table);
    }
    let spec = WorkerSpec {
        name: name.unwrap_or(SINGLE).to_string(),
        command,
        replicas,
        env: table.env.into_iter().collect(),
        working_dir,
        optional,
        prefix_output,
        process: ProcessSettings::resolve(r, name)?,
        pollers: PollerSettings::resolve(r, name)?,
        endpoint: resolve_endpoint(r, name, purpose != Workers::Watch)?,
    };
    check_spec(r, &spec, name, purpose, warnings)?;
    Ok(spec)
}

/// What holds between a worker's settings: worker versioning has both names and a drain has
/// time before the stop signal (else warnings), a fixed endpoint port serves one replica, and
/// under `watch` it has task queues.
fn check_spec(
    r: &Resolver<'_>,
    spec: &WorkerSpec,
    name: Option<&str>,
    purpose: Workers<'_>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let (process, replicas) = (&spec.process, spec.replicas);
    let whose = name.map(|n| format!("worker {n}: ")).unwrap_or_default();
    if spec.pollers.deployment_name.is_some() != spec.pollers.build_id.is_some() {
        let (d, b) = (DEPLOYMENT_NAME.def, BUILD_ID.def);
        let (d_flag, d_env, b_flag, b_env) = (d.flag(), d.env, b.flag(), b.env);
        warnings.push(format!(
            "{whose}worker versioning needs both a deployment name ({d_flag}, {d_env}) and a \
             build ID ({b_flag}, {b_env}); with only one, the worker's deployment is not checked"
        ));
    }
    if spec.endpoint.is_some() && process.stop_timeout <= process.stop_grace {
        let [timeout, grace] = [process.stop_timeout, process.stop_grace].map(duration::format);
        warnings.push(format!(
            "{whose}stop_timeout {timeout} is no longer than stop_grace {grace}: no time is left \
             to drain the worker before its stop signal"
        ));
    }
    if let Some(listen) = spec.endpoint.filter(|e| e.port() != 0 && replicas > 1) {
        return Err(ConfigError(format!(
            "{whose}endpoint_listen {listen} is one port for {replicas} replicas; leave it \
             unset (a free port for each)"
        )));
    }
    if purpose != Workers::Watch || !spec.pollers.task_queues.is_empty() {
        return Ok(());
    }
    let at = r.at_file(name, "task_queues");
    let named = "missing: watch proves a worker by its pollers; give it task_queues";
    let single = "watch proves the workers by their pollers: give --task-queue \
        (TEMPORAL_SUPERVISOR_TASK_QUEUE, task_queue), or [workers.NAME] tables with task_queues";
    Err(match name {
        Some(_) => ConfigError::at(at, named),
        None => ConfigError(single.into()),
    })
}

/// A named worker's name and its variables' names are valid, and under `watch` it starts
/// nothing.
fn check_own(r: &Resolver<'_>, name: &str, table: &Table, purpose: Workers<'_>) -> Result<()> {
    if !valid_name(name) {
        let problem = format!("invalid worker name '{name}': use letters, digits, '-' and '_'");
        let at = r.at_file(None, &format!("workers.{name}"));
        return Err(ConfigError::at(at, problem));
    }
    if let Some(variable) = table.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        let problem = format!("invalid variable name '{variable}'");
        return Err(ConfigError::at(r.at_file(Some(name), "env"), problem));
    }
    let starts = [REPLICAS.def.key, WORKING_DIR.def.key, OUTPUT.def.key];
    let started = starts.into_iter().find(|k| table.settings.contains_key(*k));
    match started.or((!table.env.is_empty()).then_some("env")) {
        Some(key) if purpose == Workers::Watch => Err(ConfigError::at(
            r.at_file(Some(name), key),
            format!("watch starts nothing, so its workers take no {key}"),
        )),
        _ => Ok(()),
    }
}

/// Records a named worker's command and, of its env, the names only (the values may be
/// secrets); its other keys are settings, recorded as they are resolved.
fn record_own(r: &mut Resolver<'_>, name: &str, table: &Table) {
    let command = table.command.as_deref().unwrap_or_default().join(" ");
    let env = Vec::from_iter(table.env.keys().map(String::as_str)).join(",");
    for (key, value) in [("command", command), ("env", env)] {
        if !value.is_empty() {
            let source = r.at_file(Some(name), key);
            r.record(&format!("workers.{name}.{key}"), value, source);
        }
    }
}
