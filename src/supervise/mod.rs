//! `run`: supervising the workers, as states and events.
//!
//! - [`launch`]: what every worker process starts with (its program found before anything
//!   waits, the connection handed over, its output);
//! - [`worker`]: one state machine per worker process (waiting for Temporal, running,
//!   stopping, backing off, exited), with its own restart policy and crash-loop backoff
//!   ([`policy`], pure functions), its stop ([`stopping`]: signal, grace, SIGKILL) and its
//!   pollers ([`polling`]); what its exits lead to is in [`exits`];
//! - [`runner`]: one Temporal for all: one wait, one monitor, Temporal's changes and the
//!   supervisor's signals fanned out to every worker; when `run` ends is in [`ending`].
//!
//! This module is the loop: it turns signals, the wait's end, the monitor's reports, poller
//! reports and timers into events for the runner.

mod ending;
mod exits;
pub mod launch;
pub mod policy;
pub mod polling;
pub mod runner;
pub mod stopping;
pub mod worker;

#[cfg(test)]
mod tests;

use std::pin::Pin;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{error, info, warn};

use crate::config::{Config, WaitSettings};
use crate::exit;
use crate::logging;
use crate::process::signals::Signals;
use crate::process::system::System;
use crate::process::{child, terminal};
use crate::serve::health;
use crate::serve::status::Status;
use crate::supervise::launch::Launch;
use crate::supervise::runner::{Next, Runner};
use crate::task::AbortOnDrop;
use crate::temporal::gate::{self, GaveUp};
use crate::temporal::monitor::{Monitor, MonitorEvent};
use crate::temporal::probe::{ProbeError, Prober, Ready, Stage};

type WaitFuture = Pin<Box<dyn Future<Output = Result<Ready, GaveUp>>>>;

/// How long, at most, the workers' last output lines may take to come through at exit.
const OUTPUT_FINISH: Duration = Duration::from_secs(2);

/// Runs the supervisor until it exits; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    debug_assert!(
        !config.workers.is_empty(),
        "resolve refuses run without a worker"
    );
    let status = Status::new();
    let (well_tx, well_rx) = watch::channel(None);
    let (reports_tx, mut reports) = mpsc::channel(64);
    let single = config.workers.len() == 1 && config.workers[0].replicas == 1;
    let take_terminal = single && !config.workers[0].prefix_output && terminal::available();
    let launch = match Launch::prepare(
        config,
        status.clone(),
        well_rx,
        reports_tx,
        take_terminal,
        &System,
    ) {
        Ok(launch) => launch,
        Err(e) => {
            logging::print_stderr(&format!("temporal-supervisor: error: {}", e.message));
            return e.code;
        }
    };
    if take_terminal {
        terminal::prepare();
    }
    if let Err(e) = child::become_subreaper() {
        warn!("cannot become a child subreaper ({e}); orphans of the workers go to init");
    }
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return exit::OS_ERROR;
        }
    };
    let _server = match config.health.listen {
        // Bound before waiting for Temporal, so the kubelet gets answers at once.
        Some(addr) => match health::bind(addr) {
            Ok(listener) => {
                info!(%addr, "serving /livez, /readyz, /startupz and /metrics");
                Some(AbortOnDrop::spawn(health::serve(listener, status.clone())))
            }
            Err(e) => {
                error!("cannot listen on {addr} for health endpoints: {e}");
                return exit::OS_ERROR;
            }
        },
        None => None,
    };
    let mut runner = Runner::new(launch);
    let prober = Prober::new(config.connection.clone());
    let mut wait = Some(start_waiting(&prober, config.wait.clone(), &status));
    let mut monitor: Option<Monitor> = None;
    loop {
        let timer = runner.timer();
        let next = tokio::select! {
            signal = signals.recv() => match signal {
                Signal::SIGCHLD => runner.reap(),
                Signal::SIGTERM | Signal::SIGINT => runner.stop_requested(signal),
                other => {
                    runner.forward(other);
                    Next::Continue
                }
            },
            result = finish(&mut wait) => match result {
                Ok(ready) => {
                    monitor = Some(Monitor::start(
                        prober.clone(),
                        config.monitor.clone(),
                        Some(ready.connection),
                        well_tx.clone(),
                    ));
                    runner.temporal_ready()
                }
                Err(GaveUp) => Next::Exit(runner.gave_up()),
            },
            Some(event) = next_event(&mut monitor) => match event {
                MonitorEvent::Lost => runner.temporal_lost(),
                MonitorEvent::Back => {
                    runner.temporal_back();
                    Next::Continue
                }
                MonitorEvent::WatchEnded(reason) => {
                    info!("health watch ended ({reason}); probing to confirm");
                    Next::Continue
                }
                MonitorEvent::Probe { result, failures } => {
                    record_probe(&status, result, failures, config.monitor.failure_threshold);
                    Next::Continue
                }
            },
            Some(report) = reports.recv() => runner.on_pollers(report),
            () = sleep_until_some(timer) => runner.on_timer(),
        };
        match next {
            Next::Continue => {}
            // Once Temporal was ready, an outage never ends `run` by itself: no limit.
            Next::Wait => {
                monitor = None;
                well_tx.send_replace(None);
                wait = Some(start_waiting(
                    &prober,
                    config.wait.without_limits(),
                    &status,
                ))
            }
            Next::StopWatching => {
                monitor = None;
                well_tx.send_replace(None);
            }
            Next::Exit(code) => {
                if let Some(output) = &runner.launch.output {
                    output.finish(OUTPUT_FINISH).await;
                }
                return code;
            }
        }
    }
}

fn start_waiting(prober: &Prober, wait: WaitSettings, status: &Status) -> WaitFuture {
    let (prober, status) = (prober.clone(), status.clone());
    status.set_temporal_up(false);
    Box::pin(async move {
        let mut attempted = |result: Result<Duration, &ProbeError>| {
            status.metrics.wait_attempts.inc();
            status.probed(result);
        };
        gate::wait_until_ready(&prober, &wait, &mut attempted).await
    })
}

/// Logs a probe's result while running and records it for the endpoints and metrics.
fn record_probe(
    status: &Status,
    result: Result<Duration, ProbeError>,
    failures: u32,
    failure_threshold: u32,
) {
    status.probed(result.as_ref().copied());
    match result {
        Ok(latency) => {
            tracing::debug!(latency = %crate::duration::format(latency), "probe succeeded");
        }
        Err(e) if e.rate_limited() => {
            info!(stage = %e.stage, reason = %e.reason, "probe rate-limited by the server; not counted");
        }
        Err(e) => {
            logging::warn_or_error!(
                e.stage == Stage::Auth,
                stage = %e.stage,
                reason = %e.reason,
                failures,
                failure_threshold,
                "probe failed"
            );
        }
    }
}

async fn next_event(monitor: &mut Option<Monitor>) -> Option<MonitorEvent> {
    match monitor {
        Some(m) => m.recv().await,
        None => std::future::pending().await,
    }
}

async fn finish(wait: &mut Option<WaitFuture>) -> Result<Ready, GaveUp> {
    let Some(future) = wait else {
        return std::future::pending().await;
    };
    let result = future.await;
    *wait = None;
    result
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
