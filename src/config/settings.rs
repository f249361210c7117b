//! The typed settings the rest of the program takes, built from the table's values: how to
//! wait for Temporal, how `run` watches it and supervises every worker (and each worker's own
//! processes and pollers), where the health endpoints listen, and how to log. The defaults
//! are the table's; cross-field checks name both values and their sources.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::backoff::Backoff;
use crate::config::choices::*;
use crate::config::resolver::{Resolver, Source, Sourced};
use crate::config::table::*;
use crate::config::{ConfigError, Env};
use crate::duration;

/// How `wait` and `exec` retry, and how `run` waits.
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
    /// While the server answers but is not ready (not SERVING, namespace missing), how often
    /// to look again on the open connection between attempts.
    pub recheck_interval: Duration,
}

impl WaitSettings {
    /// The same, with neither an attempt limit nor a timeout: for waiting again after
    /// Temporal was lost, which only a signal ends.
    pub fn without_limits(&self) -> WaitSettings {
        WaitSettings {
            max_retries: 0,
            timeout: None,
            ..self.clone()
        }
    }
}

/// How `run` watches Temporal while workers run (see `temporal::monitor`).
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    /// While all is well, a real request this often proves the namespace (and, without a
    /// health watch, that Temporal is there at all).
    pub probe_interval: Duration,
    /// Bound on one probe.
    pub probe_timeout: Duration,
    /// While Temporal looks unwell (the watch broke, a probe failed), probe this often.
    pub recheck_interval: Duration,
    /// Consecutive failed probes before Temporal counts as lost.
    pub failure_threshold: u32,
    /// Consecutive good probes before Temporal counts as back.
    pub success_threshold: u32,
    /// The largest fraction of an interval removed at random (as for waiting), so that a
    /// fleet started together does not probe in step.
    pub jitter: f64,
}

/// What `run` does as a whole, for every worker.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub on_disconnect: OnDisconnect,
    /// Workers started again after Temporal's return start at a random moment within this
    /// window, so that a fleet of supervisors does not start its workers in step.
    pub restart_spread: Duration,
    /// Hand the resolved connection to the workers as `TEMPORAL_*` variables.
    pub export_connection: bool,
}

/// How one worker's processes are stopped and restarted.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSettings {
    pub stop_signal: Signal,
    /// From the stop to SIGKILL: the drain (with the endpoint), then the stop signal's grace.
    pub stop_timeout: Duration,
    /// With the endpoint: how much of `stop_timeout` is kept for the stop signal (the drain
    /// ends this long before SIGKILL at the latest).
    pub stop_grace: Duration,
    /// How long a drain lets open polls Temporal cannot complete end by themselves.
    pub drain_poll_wait: Duration,
    pub restart: RestartPolicy,
    /// Delays between restarts of a failing worker (factor and jitter as for waiting).
    pub restart_backoff: Backoff,
    /// A worker that ran this long counts as stable and restart delays start over.
    pub restart_reset_after: Duration,
    /// Most restarts; 0 means no limit.
    pub max_restarts: u32,
}

/// Which of a worker's pollers must be seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerSettings {
    /// Empty: no poller check.
    pub task_queues: Vec<String>,
    pub task_queue_type: QueueType,
    /// A worker not polling this long after its start (or Temporal's return) is replaced.
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

/// The health endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Where to serve the endpoints; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The level for this program; `None` leaves the choice to `RUST_LOG` (default `info`).
    pub level: Option<tracing::Level>,
    /// Colour on a terminal: `NO_COLOR` is unset or empty.
    pub colour: bool,
}

/// `name value (source)`, for an error between two settings.
fn shown(name: &str, value: Duration, source: &Source) -> String {
    format!("{name} {} ({source})", duration::format(value))
}

/// Fails unless `longer` is at least `shorter`, naming both and their sources.
fn at_least(
    longer: (&str, &Sourced<Duration>),
    shorter: (&str, &Sourced<Duration>),
    whose: &str,
) -> Result<(), ConfigError> {
    if longer.1.value >= shorter.1.value {
        return Ok(());
    }
    Err(ConfigError(format!(
        "{whose}{} is shorter than {}",
        shown(longer.0, longer.1.value, &longer.1.source),
        shown(shorter.0, shorter.1.value, &shorter.1.source)
    )))
}

pub fn resolve_wait(r: &mut Resolver<'_>) -> Result<WaitSettings, ConfigError> {
    let max_retries = r.get(MAX_RETRIES, None)?.value;
    let initial_delay = r.get(INITIAL_DELAY, None)?;
    let max_delay = r.get(MAX_DELAY, None)?;
    let factor = r.get(BACKOFF_FACTOR, None)?.value;
    let jitter = r.get(JITTER, None)?.value;
    let timeout = r.get(TIMEOUT, None)?.value;
    let attempt_timeout = r.get(ATTEMPT_TIMEOUT, None)?.value;
    let port_watch_interval = r.get(PORT_WATCH_INTERVAL, None)?.value;
    let recheck_interval = r.get(RECHECK_INTERVAL, None)?.value;
    at_least(
        ("max_delay", &max_delay),
        ("initial_delay", &initial_delay),
        "",
    )?;
    Ok(WaitSettings {
        max_retries,
        backoff: Backoff {
            initial_delay: initial_delay.value,
            max_delay: max_delay.value,
            factor,
            jitter,
        },
        timeout,
        attempt_timeout,
        port_watch_interval,
        recheck_interval,
    })
}

pub fn resolve_monitor(
    r: &mut Resolver<'_>,
    wait: &WaitSettings,
) -> Result<MonitorSettings, ConfigError> {
    Ok(MonitorSettings {
        probe_interval: r.get(PROBE_INTERVAL, None)?.value,
        probe_timeout: r.get(PROBE_TIMEOUT, None)?.value,
        recheck_interval: wait.recheck_interval,
        failure_threshold: r.get(FAILURE_THRESHOLD, None)?.value,
        success_threshold: r.get(SUCCESS_THRESHOLD, None)?.value,
        jitter: wait.backoff.jitter,
    })
}

pub fn resolve_run(r: &mut Resolver<'_>) -> Result<RunSettings, ConfigError> {
    Ok(RunSettings {
        on_disconnect: r.get(ON_DISCONNECT, None)?.value,
        restart_spread: r.get(RESTART_SPREAD, None)?.value,
        export_connection: r.get(EXPORT_CONNECTION, None)?.value,
    })
}

/// The process settings of one worker (`None`: the single worker, or no worker at all).
pub fn resolve_process(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    wait: &WaitSettings,
) -> Result<ProcessSettings, ConfigError> {
    let stop_signal = r.get(STOP_SIGNAL, worker)?.value;
    let stop_timeout = r.get(STOP_TIMEOUT, worker)?;
    let stop_grace = r.get(STOP_GRACE, worker)?;
    let drain_poll_wait = r.get(DRAIN_POLL_WAIT, worker)?.value;
    let restart = r.get(RESTART, worker)?.value;
    let restart_delay = r.get(RESTART_DELAY, worker)?;
    let restart_max_delay = r.get(RESTART_MAX_DELAY, worker)?;
    let restart_reset_after = r.get(RESTART_RESET_AFTER, worker)?.value;
    let max_restarts = r.get(MAX_RESTARTS, worker)?.value;
    let whose = worker.map(|w| format!("worker {w}: ")).unwrap_or_default();
    at_least(
        ("restart_max_delay", &restart_max_delay),
        ("restart_delay", &restart_delay),
        &whose,
    )?;
    Ok(ProcessSettings {
        stop_signal,
        stop_timeout: stop_timeout.value,
        stop_grace: stop_grace.value,
        drain_poll_wait,
        restart,
        restart_backoff: Backoff {
            initial_delay: restart_delay.value,
            max_delay: restart_max_delay.value,
            factor: wait.backoff.factor,
            jitter: wait.backoff.jitter,
        },
        restart_reset_after,
        max_restarts,
    })
}

/// The poller settings of one worker (`None`: the single worker, or no worker at all).
pub fn resolve_pollers(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<PollerSettings, ConfigError> {
    let task_queues = r.get_opt(TASK_QUEUE, worker)?.map(|s| s.value);
    let task_queue_type = r.get(TASK_QUEUE_TYPE, worker)?.value;
    let deadline = r.get(POLLER_DEADLINE, worker)?.value;
    let worker_identity = r.get_opt(WORKER_IDENTITY, worker)?.map(|s| s.value);
    let deployment_name = r.get_opt(DEPLOYMENT_NAME, worker)?;
    let build_id = r.get_opt(BUILD_ID, worker)?;
    let deployment = match (deployment_name, build_id) {
        (Some(name), Some(build_id)) => Some(Deployment {
            name: name.value,
            build_id: build_id.value,
        }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let (d, b) = (DEPLOYMENT_NAME.def, BUILD_ID.def);
            warnings.push(format!(
                "worker versioning needs both a deployment name ({}, {}) and a build ID ({}, \
                 {}); with only one, the worker's deployment is not checked",
                d.flag(),
                d.env,
                b.flag(),
                b.env
            ));
            None
        }
    };
    Ok(PollerSettings {
        task_queues: task_queues.unwrap_or_default(),
        task_queue_type,
        deadline,
        worker_identity,
        deployment,
    })
}

/// Where a worker's endpoint listens, `None` when it has none: under `run` on by default (a free
/// loopback port unless given), under `watch` only where an address is given.
pub fn resolve_endpoint(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    run: bool,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let on = r.get(ENDPOINT, worker)?.value;
    let listen = r.get_opt(ENDPOINT_LISTEN, worker)?.map(|s| s.value);
    Ok(match (run, on, listen) {
        (_, false, _) => None,
        (true, true, None) => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        (_, true, listen) => listen,
    })
}

pub fn resolve_health(r: &mut Resolver<'_>) -> Result<HealthSettings, ConfigError> {
    Ok(HealthSettings {
        listen: r.get_opt(HEALTH_LISTEN, None)?.map(|s| s.value),
    })
}

/// `--log-level` (or its variable or file key) sets this program's level; without it,
/// `RUST_LOG` is a full filter, reported as the level's source.
pub fn resolve_log(r: &mut Resolver<'_>, env: &Env) -> Result<LogSettings, ConfigError> {
    let rust_log = env.get("RUST_LOG").map(String::as_str);
    let format = r.get(LOG_FORMAT, None)?.value;
    let level = match r.raw(LOG_LEVEL.def, None)? {
        Some(_) => r.get_opt(LOG_LEVEL, None)?.map(|s| s.value.tracing()),
        None => {
            match rust_log.filter(|v| !v.is_empty()) {
                Some(filter) => r.record(
                    LOG_LEVEL.def.key,
                    filter.to_string(),
                    Source::Env("RUST_LOG".into()),
                ),
                None => r.record(LOG_LEVEL.def.key, "info".into(), Source::Default),
            }
            None
        }
    };
    let colour = env.get("NO_COLOR").is_none_or(|v| v.is_empty());
    Ok(LogSettings {
        format,
        level,
        colour,
    })
}
