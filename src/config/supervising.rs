//! How `run` supervises: stopping, restarting, and watching Temporal while workers run.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::backoff::Backoff;
use crate::config::ConfigError;
use crate::config::WaitSettings;
use crate::config::keys::*;
use crate::config::layers::Resolver;
use crate::config::values::*;
use crate::duration;

/// What `run` does when Temporal is lost while the worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisconnect {
    /// Keep the workers (their SDKs reconnect by themselves, finishing the work in flight);
    /// start none into the outage; once Temporal is back, replace a worker with task queues
    /// that is not seen polling again within its poller deadline.
    Keep,
    /// Stop the worker, wait for Temporal again, start a new worker.
    Restart,
    /// Stop the worker and exit 69, for the orchestrator to restart the container.
    Exit,
    /// Keep the worker and only report; its own exits are handled as if Temporal were there.
    Ignore,
}

impl OnDisconnect {
    pub fn name(self) -> &'static str {
        match self {
            OnDisconnect::Keep => "keep",
            OnDisconnect::Restart => "restart",
            OnDisconnect::Exit => "exit",
            OnDisconnect::Ignore => "ignore",
        }
    }
}

/// What `run` does when the worker exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

impl RestartPolicy {
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::Never => "never",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
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

pub fn resolve_monitor(
    r: &mut Resolver<'_>,
    wait: &WaitSettings,
) -> Result<MonitorSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let probe_interval = r.get(
        &PROBE_INTERVAL,
        Duration::from_secs(60),
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
    Ok(MonitorSettings {
        probe_interval,
        probe_timeout,
        recheck_interval: wait.recheck_interval,
        failure_threshold,
        success_threshold,
        jitter: wait.backoff.jitter,
    })
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

pub fn resolve_run(r: &mut Resolver<'_>) -> Result<RunSettings, ConfigError> {
    let on_disconnect = r.get(
        &ON_DISCONNECT,
        OnDisconnect::Keep,
        |t| match t.trim() {
            "keep" => Ok(OnDisconnect::Keep),
            "restart" => Ok(OnDisconnect::Restart),
            "exit" => Ok(OnDisconnect::Exit),
            "ignore" => Ok(OnDisconnect::Ignore),
            _ => Err("expected keep, restart, exit or ignore".into()),
        },
        |a| a.name().into(),
    )?;
    let restart_spread = r.get(
        &RESTART_SPREAD,
        Duration::from_secs(2),
        duration::parse,
        |d| duration::format(*d),
    )?;
    let export_connection = r.get(&EXPORT_CONNECTION, true, parse_bool, bool::to_string)?;
    Ok(RunSettings {
        on_disconnect,
        restart_spread,
        export_connection,
    })
}

/// How one worker's processes are stopped and restarted.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSettings {
    pub stop_signal: Signal,
    /// Grace period between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    pub restart: RestartPolicy,
    /// Delays between restarts of a failing worker (factor and jitter as for waiting).
    pub restart_backoff: Backoff,
    /// A worker that ran this long counts as stable and restart delays start over.
    pub restart_reset_after: Duration,
    /// Most restarts; 0 means no limit.
    pub max_restarts: u32,
}

impl Default for ProcessSettings {
    fn default() -> Self {
        ProcessSettings {
            stop_signal: Signal::SIGTERM,
            stop_timeout: Duration::from_secs(25),
            restart: RestartPolicy::OnFailure,
            restart_backoff: Backoff {
                initial_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                factor: 2.0,
                jitter: 0.2,
            },
            restart_reset_after: Duration::from_secs(60),
            max_restarts: 0,
        }
    }
}

/// The process settings of one worker (`None`: the single worker, or no worker at all).
pub fn resolve_process(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    wait: &WaitSettings,
) -> Result<ProcessSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let stop_signal = r.get_in(&STOP_SIGNAL, worker, Signal::SIGTERM, parse_signal, |s| {
        s.as_str().to_string()
    })?;
    let stop_timeout = r.get_in(
        &STOP_TIMEOUT,
        worker,
        Duration::from_secs(25),
        duration::parse,
        show_duration,
    )?;
    let restart = r.get_in(
        &RESTART,
        worker,
        RestartPolicy::OnFailure,
        |t| match t.trim() {
            "never" => Ok(RestartPolicy::Never),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "always" => Ok(RestartPolicy::Always),
            _ => Err("expected never, on-failure or always".into()),
        },
        |p| p.name().into(),
    )?;
    let restart_delay = r.get_in(
        &RESTART_DELAY,
        worker,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_max_delay = r.get_in(
        &RESTART_MAX_DELAY,
        worker,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_reset_after = r.get_in(
        &RESTART_RESET_AFTER,
        worker,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let max_restarts = r.get_in(&MAX_RESTARTS, worker, 0, parse_count, |n| n.to_string())?;
    if restart_max_delay < restart_delay {
        let whose = worker.map(|w| format!("worker {w}: ")).unwrap_or_default();
        return Err(ConfigError(format!(
            "{whose}restart_max_delay {} is shorter than restart_delay {}",
            duration::format(restart_max_delay),
            duration::format(restart_delay)
        )));
    }
    Ok(ProcessSettings {
        stop_signal,
        stop_timeout,
        restart,
        restart_backoff: Backoff {
            initial_delay: restart_delay,
            max_delay: restart_max_delay,
            factor: wait.backoff.factor,
            jitter: wait.backoff.jitter,
        },
        restart_reset_after,
        max_restarts,
    })
}
