//! The typed settings the rest of the program takes, built from the table's values: how to
//! wait for Temporal, how `run` watches it and supervises every worker (and each worker's own
//! processes and pollers), where the health endpoints listen, and how to log. The defaults
//! are the table's; cross-field checks name both values and their sources.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::backoff::Backoff;
use crate::config::choices::*;
use crate::config::kinds::Positive;
use crate::config::resolver::{Resolver, Source, Sourced};
use crate::config::table::*;
use crate::config::{ConfigError, Env, Result};
use crate::duration;

/// `Name { field: Type = how(KEY), ... }`: a struct of settings and how it is resolved, each
/// field from its setting through the resolver (`value`: one with a default; `maybe`: unset
/// unless given; `or_empty`: unset is empty); `where LONG >= SHORT` checks that one duration is at least another.
macro_rules! sections {
    ($($(#[$doc:meta])* $name:ident $(where $long:ident >= $short:ident)? {
        $($(#[$fdoc:meta])* $field:ident: $ty:ty = $how:ident($key:ident),)*
    })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// Its settings through the layers (for a worker's, `worker`'s table first).
            pub fn resolve(
                r: &mut $crate::config::resolver::Resolver<'_>,
                worker: Option<&str>,
            ) -> Result<$name, $crate::config::ConfigError> {
                let section = $name { $($field: r.$how($key, worker)?,)* };
                $($crate::config::settings::at_least(r, $long, $short, worker)?;)?
                Ok(section)
            }
        }
    )*};
}

pub(crate) use sections;

sections! {
    /// How `wait` and `exec` retry, and how `run` waits.
    WaitSettings where MAX_DELAY >= INITIAL_DELAY {
        /// Most attempts; 0 means no limit.
        max_retries: u32 = value(MAX_RETRIES),
        initial_delay: Duration = value(INITIAL_DELAY),
        max_delay: Duration = value(MAX_DELAY),
        backoff_factor: f64 = value(BACKOFF_FACTOR),
        jitter: f64 = value(JITTER),
        /// Give up after this long in all; `None` means no limit.
        timeout: Option<Duration> = value(TIMEOUT),
        /// Bound on one whole attempt (DNS, TCP, TLS, RPCs).
        attempt_timeout: Duration = value(ATTEMPT_TIMEOUT),
        /// While the port refuses connections, how often to look again between attempts.
        port_watch_interval: Duration = value(PORT_WATCH_INTERVAL),
        /// While the server answers but is not ready (not SERVING, namespace missing), how
        /// often to look again on the open connection between attempts.
        recheck_interval: Duration = value(RECHECK_INTERVAL),
    }

    /// How `run` watches Temporal while workers run (see `temporal::monitor`).
    MonitorSettings {
        /// While all is well, a real request this often proves the namespace (and, without a
        /// health watch, that Temporal is there at all).
        probe_interval: Duration = value(PROBE_INTERVAL),
        /// Bound on one probe.
        probe_timeout: Duration = value(PROBE_TIMEOUT),
        /// While Temporal looks unwell (the watch broke, a probe failed), probe this often.
        recheck_interval: Duration = value(RECHECK_INTERVAL),
        /// Consecutive failed probes before Temporal counts as lost.
        failure_threshold: u32 = value(FAILURE_THRESHOLD),
        /// Consecutive good probes before Temporal counts as back.
        success_threshold: u32 = value(SUCCESS_THRESHOLD),
        /// The largest fraction of an interval removed at random (as for waiting), so that a
        /// fleet started together does not probe in step.
        jitter: f64 = value(JITTER),
    }

    /// What `run` does as a whole, for every worker.
    RunSettings {
        on_disconnect: OnDisconnect = value(ON_DISCONNECT),
        /// Workers started again after Temporal's return start at a random moment within this
        /// window, so that a fleet of supervisors does not start its workers in step.
        restart_spread: Duration = value(RESTART_SPREAD),
        /// Hand the resolved connection to the workers as `TEMPORAL_*` variables.
        export_connection: bool = value(EXPORT_CONNECTION),
    }

    /// How one worker's processes are stopped and restarted.
    ProcessSettings where RESTART_MAX_DELAY >= RESTART_DELAY {
        stop_signal: Signal = value(STOP_SIGNAL),
        /// From the stop to SIGKILL: the drain (with the endpoint), then the stop signal's grace.
        stop_timeout: Duration = value(STOP_TIMEOUT),
        /// With the endpoint: how much of `stop_timeout` is kept for the stop signal (the drain
        /// ends this long before SIGKILL at the latest).
        stop_grace: Duration = value(STOP_GRACE),
        /// How long a drain lets open polls Temporal cannot complete end by themselves.
        drain_poll_wait: Duration = value(DRAIN_POLL_WAIT),
        restart: RestartPolicy = value(RESTART),
        /// Delays between restarts of a failing worker (factor and jitter as for waiting).
        restart_delay: Duration = value(RESTART_DELAY),
        restart_max_delay: Duration = value(RESTART_MAX_DELAY),
        backoff_factor: f64 = value(BACKOFF_FACTOR),
        jitter: f64 = value(JITTER),
        /// A worker that ran this long counts as stable and restart delays start over.
        restart_reset_after: Duration = value(RESTART_RESET_AFTER),
        /// Most restarts; 0 means no limit.
        max_restarts: u32 = value(MAX_RESTARTS),
    }

    /// Which of a worker's pollers must be seen.
    PollerSettings {
        /// Empty: no poller check.
        task_queues: Vec<String> = or_empty(TASK_QUEUE),
        task_queue_type: QueueType = value(TASK_QUEUE_TYPE),
        /// A worker not polling this long after its start (or Temporal's return) is replaced.
        deadline: Duration = value(POLLER_DEADLINE),
        /// Identity pattern; `{pid}` and `{hostname}` are replaced, `*` matches anything.
        /// `None`: the SDKs' own defaults for this worker's pid and host.
        worker_identity: Option<String> = maybe(WORKER_IDENTITY),
        /// With worker versioning: the deployment and build its pollers must carry (both, see
        /// [`PollerSettings::deployment`]).
        deployment_name: Option<String> = maybe(DEPLOYMENT_NAME),
        build_id: Option<String> = maybe(BUILD_ID),
    }

    /// The health endpoints.
    HealthSettings {
        /// Where to serve the endpoints; `None`: not served.
        listen: Option<std::net::SocketAddr> = maybe(HEALTH_LISTEN),
    }
}

impl WaitSettings {
    /// Delays between attempts.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial_delay: self.initial_delay,
            max_delay: self.max_delay,
            factor: self.backoff_factor,
            jitter: self.jitter,
        }
    }

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

impl ProcessSettings {
    /// Delays between restarts of a failing worker.
    pub fn restart_backoff(&self) -> Backoff {
        Backoff {
            initial_delay: self.restart_delay,
            max_delay: self.restart_max_delay,
            factor: self.backoff_factor,
            jitter: self.jitter,
        }
    }
}

impl PollerSettings {
    /// The deployment version its pollers must carry: only when both its names are given.
    pub fn deployment(&self) -> Option<Deployment> {
        let (name, build_id) = (self.deployment_name.clone()?, self.build_id.clone()?);
        Some(Deployment { name, build_id })
    }
}

/// A worker-deployment version, as Temporal's worker controller hands it to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    pub build_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The level for this program; `None` leaves the choice to `RUST_LOG` (default `info`).
    pub level: Option<tracing::Level>,
    /// Colour on a terminal: `NO_COLOR` is unset or empty.
    pub colour: bool,
}

/// Fails unless `longer` is at least `shorter`, naming both, their values and sources.
pub(crate) fn at_least(
    r: &Resolver<'_>,
    longer: Key<Positive>,
    shorter: Key<Positive>,
    worker: Option<&str>,
) -> Result<()> {
    let found = |key| r.find(key, worker).map(|v| v.expect("it has a default"));
    let (l, s) = (found(longer)?, found(shorter)?);
    if l.value >= s.value {
        return Ok(());
    }
    let shown = |key: Key<Positive>, v: Sourced<Duration>| {
        let value = duration::format(v.value);
        format!("{} {value} ({})", key.def.key, v.source)
    };
    let whose = worker.map(|w| format!("worker {w}: ")).unwrap_or_default();
    let (l, s) = (shown(longer, l), shown(shorter, s));
    Err(ConfigError(format!("{whose}{l} is shorter than {s}")))
}

/// Where a worker's endpoint listens, `None` when it has none: under `run` on by default (a free
/// loopback port unless given), under `watch` only where an address is given.
pub fn resolve_endpoint(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    run: bool,
) -> Result<Option<std::net::SocketAddr>> {
    let on = r.value(ENDPOINT, worker)?;
    let listen = r.maybe(ENDPOINT_LISTEN, worker)?;
    Ok(match (run, on, listen) {
        (_, false, _) => None,
        (true, true, None) => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        (_, true, listen) => listen,
    })
}

/// `--log-level` (or its variable or file key) sets this program's level; without it,
/// `RUST_LOG` is a full filter, reported as the level's source.
pub fn resolve_log(r: &mut Resolver<'_>, env: &Env) -> Result<LogSettings> {
    let format = r.value(LOG_FORMAT, None)?;
    let rust_log = env.get("RUST_LOG").filter(|v| !v.is_empty());
    if let (None, Some(filter)) = (r.raw(LOG_LEVEL.def, None), rust_log) {
        let source = Source::Env("RUST_LOG".into());
        r.record(LOG_LEVEL.def.key, filter.clone(), source);
    }
    Ok(LogSettings {
        format,
        level: r.maybe(LOG_LEVEL, None)?.map(LogLevel::tracing),
        colour: env.get("NO_COLOR").is_none_or(|v| v.is_empty()),
    })
}
