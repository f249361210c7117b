//! Everything but the connection: how to wait, how to supervise, health endpoints and
//! pollers, and logging, each resolved through the layers into typed settings.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::keys::*;
use crate::config::layers::{Resolver, Source, invalid};
use crate::config::values::*;
use crate::config::{ConfigError, Env};
use crate::duration;
use crate::temporal::backoff::Backoff;

/// How `wait` and `exec` retry.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSettings {
    /// Most attempts; 0 means no limit.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// Give up after this long in all; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Bound on one whole attempt (DNS, TCP, TLS, RPCs).
    pub attempt_timeout: Duration,
    /// While the port refuses connections, how often to look again between attempts.
    pub port_watch_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The level for this program; `None` leaves the choice to `RUST_LOG` (default `info`).
    pub level: Option<tracing::Level>,
}

// --- waiting ----------------------------------------------------------------------------------

pub fn resolve_wait(r: &mut Resolver<'_>) -> Result<WaitSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let max_retries = r.get(&MAX_RETRIES, 10, parse_count, |n| n.to_string())?;
    let initial_delay = r.get(
        &INITIAL_DELAY,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let max_delay = r.get(
        &MAX_DELAY,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let factor = r.get(&BACKOFF_FACTOR, 2.0, parse_factor, |f| format!("{f}"))?;
    let jitter = r.get(&JITTER, 0.2, parse_fraction, |f| format!("{f}"))?;
    let timeout = r.get(
        &TIMEOUT,
        None,
        |t| duration::parse(t).map(|d| (!d.is_zero()).then_some(d)),
        |t| t.map_or("none".into(), duration::format),
    )?;
    let attempt_timeout = r.get(
        &ATTEMPT_TIMEOUT,
        Duration::from_secs(5),
        parse_positive_duration,
        show_duration,
    )?;
    let port_watch_interval = r.get(
        &PORT_WATCH_INTERVAL,
        Duration::from_millis(100),
        parse_positive_duration,
        show_duration,
    )?;
    if max_delay < initial_delay {
        return Err(ConfigError(format!(
            "max_delay {} is shorter than initial_delay {}",
            duration::format(max_delay),
            duration::format(initial_delay)
        )));
    }
    Ok(WaitSettings {
        max_retries,
        backoff: Backoff {
            initial_delay,
            max_delay,
            factor,
            jitter,
        },
        timeout,
        attempt_timeout,
        port_watch_interval,
    })
}

// --- supervising ------------------------------------------------------------------------------

/// What `run` does when Temporal is lost while the worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisconnect {
    /// Stop the worker, wait for Temporal again, start a new worker.
    Restart,
    /// Stop the worker and exit 69, for the orchestrator to restart the container.
    Exit,
    /// Keep the worker (SDK workers reconnect by themselves); only report.
    Ignore,
}

/// What `run` does when the worker exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

/// How `run` supervises the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub stop_signal: nix::sys::signal::Signal,
    /// Grace period between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub on_disconnect: OnDisconnect,
    pub restart: RestartPolicy,
    /// Delays between restarts of a failing worker (factor and jitter as for waiting).
    pub restart_backoff: Backoff,
    /// A worker that ran this long counts as stable and restart delays start over.
    pub restart_reset_after: Duration,
    /// Most restarts; 0 means no limit.
    pub max_restarts: u32,
    /// Hand the resolved connection to the worker as `TEMPORAL_*` variables.
    pub export_connection: bool,
}

pub fn resolve_run(r: &mut Resolver<'_>, wait: &WaitSettings) -> Result<RunSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let stop_signal = r.get(&STOP_SIGNAL, Signal::SIGTERM, parse_signal, |s| {
        s.as_str().to_string()
    })?;
    let stop_timeout = r.get(
        &STOP_TIMEOUT,
        Duration::from_secs(25),
        duration::parse,
        show_duration,
    )?;
    let probe_interval = r.get(
        &PROBE_INTERVAL,
        Duration::from_secs(5),
        parse_positive_duration,
        show_duration,
    )?;
    let probe_timeout = r.get(
        &PROBE_TIMEOUT,
        Duration::from_secs(3),
        parse_positive_duration,
        show_duration,
    )?;
    let failure_threshold = r.get(&FAILURE_THRESHOLD, 3, parse_positive_count, |n| {
        n.to_string()
    })?;
    let success_threshold = r.get(&SUCCESS_THRESHOLD, 1, parse_positive_count, |n| {
        n.to_string()
    })?;
    let on_disconnect = r.get(
        &ON_DISCONNECT,
        OnDisconnect::Restart,
        |t| match t.trim() {
            "restart" => Ok(OnDisconnect::Restart),
            "exit" => Ok(OnDisconnect::Exit),
            "ignore" => Ok(OnDisconnect::Ignore),
            _ => Err("expected restart, exit or ignore".into()),
        },
        |a| format!("{a:?}").to_lowercase(),
    )?;
    let restart = r.get(
        &RESTART,
        RestartPolicy::OnFailure,
        |t| match t.trim() {
            "never" => Ok(RestartPolicy::Never),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "always" => Ok(RestartPolicy::Always),
            _ => Err("expected never, on-failure or always".into()),
        },
        |p| match p {
            RestartPolicy::Never => "never".into(),
            RestartPolicy::OnFailure => "on-failure".into(),
            RestartPolicy::Always => "always".into(),
        },
    )?;
    let restart_delay = r.get(
        &RESTART_DELAY,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_max_delay = r.get(
        &RESTART_MAX_DELAY,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_reset_after = r.get(
        &RESTART_RESET_AFTER,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let max_restarts = r.get(&MAX_RESTARTS, 0, parse_count, |n| n.to_string())?;
    let export_connection = r.get(&EXPORT_CONNECTION, true, parse_bool, bool::to_string)?;
    if restart_max_delay < restart_delay {
        return Err(ConfigError(format!(
            "restart_max_delay {} is shorter than restart_delay {}",
            duration::format(restart_max_delay),
            duration::format(restart_delay)
        )));
    }
    Ok(RunSettings {
        stop_signal,
        stop_timeout,
        probe_interval,
        probe_timeout,
        failure_threshold,
        success_threshold,
        on_disconnect,
        restart,
        restart_backoff: Backoff {
            initial_delay: restart_delay,
            max_delay: restart_max_delay,
            factor: wait.backoff.factor,
            jitter: wait.backoff.jitter,
        },
        restart_reset_after,
        max_restarts,
        export_connection,
    })
}

// --- health and pollers -------------------------------------------------------------------------

/// The health endpoints and the poller check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Where to serve the endpoints; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
    pub pollers: PollerSettings,
}

/// Which of the worker's pollers must be seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerSettings {
    /// Empty: no poller check.
    pub task_queues: Vec<String>,
    pub task_queue_type: QueueType,
    /// A worker not polling this long after its start is restarted.
    pub deadline: Duration,
    /// Identity pattern; `{pid}` and `{hostname}` are replaced, `*` matches anything.
    /// `None`: the SDKs' own defaults for this worker's pid and host.
    pub worker_identity: Option<String>,
    /// With worker versioning: the deployment and build the worker's pollers must carry.
    pub deployment: Option<Deployment>,
}

/// A worker-deployment version, as Temporal's worker controller hands it to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    pub build_id: String,
}

/// Which pollers of a task queue count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Any,
    Workflow,
    Activity,
}

pub fn resolve_health(
    r: &mut Resolver<'_>,
    warnings: &mut Vec<String>,
) -> Result<HealthSettings, ConfigError> {
    let listen = r.get(
        &HEALTH_LISTEN,
        None,
        |t| parse_listen(t).map(Some),
        |a| a.map_or("(off)".into(), |a| a.to_string()),
    )?;
    let task_queues = r.get(
        &TASK_QUEUE,
        Vec::new(),
        |t| {
            let names: Vec<String> = t.split(',').map(|n| n.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err("expected task queue names separated by commas".into());
            }
            Ok(names)
        },
        |names| {
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(",")
            }
        },
    )?;
    let task_queue_type = r.get(
        &TASK_QUEUE_TYPE,
        QueueType::Any,
        |t| match t.trim() {
            "any" => Ok(QueueType::Any),
            "workflow" => Ok(QueueType::Workflow),
            "activity" => Ok(QueueType::Activity),
            _ => Err("expected any, workflow or activity".into()),
        },
        |q| format!("{q:?}").to_lowercase(),
    )?;
    let deadline = r.get(
        &POLLER_DEADLINE,
        Duration::from_secs(60),
        parse_positive_duration,
        |d| duration::format(*d),
    )?;
    let worker_identity = r.get(
        &WORKER_IDENTITY,
        None,
        |t| non_empty(t, "an identity pattern such as {pid}@{hostname}").map(Some),
        |p| match p {
            Some(pattern) => pattern.clone(),
            None => "{pid}@{hostname} or {pid}@{hostname}@* (the SDKs' defaults)".into(),
        },
    )?;
    let deployment_name = r.get(
        &DEPLOYMENT_NAME,
        None,
        |t| non_empty(t, "a deployment name").map(Some),
        |n| n.clone().unwrap_or_else(|| "(none)".into()),
    )?;
    let build_id = r.get(
        &BUILD_ID,
        None,
        |t| non_empty(t, "a build ID").map(Some),
        |b| b.clone().unwrap_or_else(|| "(none)".into()),
    )?;
    let deployment = match (deployment_name, build_id) {
        (Some(name), Some(build_id)) => Some(Deployment { name, build_id }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            warnings.push(format!(
                "worker versioning needs both a deployment name ({}, {}) and a build ID ({}, \
                 {}); with only one, the worker's deployment is not checked",
                DEPLOYMENT_NAME.flag, DEPLOYMENT_NAME.env, BUILD_ID.flag, BUILD_ID.env
            ));
            None
        }
    };
    Ok(HealthSettings {
        listen,
        pollers: PollerSettings {
            task_queues,
            task_queue_type,
            deadline,
            worker_identity,
            deployment,
        },
    })
}

fn non_empty(text: &str, what: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err(format!("expected {what}")),
        t => Ok(t.to_string()),
    }
}

// --- logging ----------------------------------------------------------------------------------

pub fn resolve_log(r: &mut Resolver<'_>, env: &Env) -> Result<LogSettings, ConfigError> {
    let format = r.get(
        &LOG_FORMAT,
        LogFormat::Text,
        |t| match t.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        },
        |f| format!("{f:?}").to_lowercase(),
    )?;
    let rust_log = env.get("RUST_LOG").filter(|v| !v.is_empty());
    let level = match r.raw(&LOG_LEVEL)? {
        Some((text, source)) => {
            let level = text.trim().parse::<tracing::Level>().map_err(|_| {
                invalid(&source, &text, "expected error, warn, info, debug or trace")
            })?;
            r.record(LOG_LEVEL.name, level.to_string().to_lowercase(), source);
            Some(level)
        }
        None => {
            match rust_log {
                Some(filter) => r.record(
                    LOG_LEVEL.name,
                    filter.clone(),
                    Source::Env("RUST_LOG".into()),
                ),
                None => r.record(LOG_LEVEL.name, "info".into(), Source::Default),
            }
            None
        }
    };
    Ok(LogSettings { format, level })
}
