//! `run`: supervising the workers, as states and events.
//!
//! - [`launch`]: what every worker process starts with (its program found before anything
//!   waits, the connection handed over, its output);
//! - [`worker`]: one state machine per worker process (waiting for Temporal, running,
//!   stopping, backing off, exited), with its own restart policy and crash-loop backoff
//!   ([`policy`], pure functions), its stop ([`stopping`]: signal, grace, SIGKILL) and its
//!   pollers ([`polling`]); what its exits lead to is in [`exits`];
//! - [`runner`]: one Temporal for all (one wait and one monitor, through
//!   [`crate::watcher`]): Temporal's changes ([`outage`]) and the supervisor's signals fanned
//!   out to every worker; when `run` ends is in [`ending`].
//!
//! This module is the loop: it turns signals, the wait's end, the monitor's reports, poller
//! reports and timers into events for the runner.

mod ending;
mod exits;
pub mod launch;
mod outage;
pub mod policy;
pub mod polling;
pub mod runner;
pub mod stopping;
pub mod worker;

#[cfg(test)]
mod tests;

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{error, info, warn};

use crate::config::Config;
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
use crate::temporal::poller_watch::PollerEvent;
use crate::temporal::probe::Prober;
use crate::watcher::{TemporalEvent, Watcher};

/// How long, at most, the workers' last output lines may take to come through at exit.
const OUTPUT_FINISH: Duration = Duration::from_secs(2);

/// Runs the supervisor until it exits; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    debug_assert!(
        !config.workers.is_empty(),
        "resolve refuses run without a worker"
    );
    let status = Status::new();
    let mut temporal = Watcher::new(
        Prober::new(config.connection.clone()),
        config.monitor.clone(),
        status.clone(),
    );
    let (reports_tx, mut reports) = mpsc::channel(64);
    let single = config.workers.len() == 1 && config.workers[0].replicas == 1;
    let take_terminal = single && !config.workers[0].prefix_output && terminal::available();
    let launch = match Launch::prepare(
        config,
        status.clone(),
        temporal.well(),
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
    let mut signals = match Signals::install(take_terminal) {
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
    temporal.wait(config.wait.clone());
    loop {
        let next = next_event(&mut runner, &mut signals, &mut temporal, &mut reports).await;
        match next {
            Next::Continue => {}
            // Once Temporal was ready, an outage never ends `run` by itself: no limit.
            Next::Wait => temporal.wait(config.wait.without_limits()),
            Next::StopWatching => temporal.stop_watching(),
            Next::CheckTemporal => temporal.check(),
            Next::Exit(code) => {
                if let Some(output) = &runner.launch.output {
                    output.finish(OUTPUT_FINISH).await;
                }
                return code;
            }
        }
    }
}

/// Waits for the next signal, Temporal event, poller report or timer, and hands it to the
/// runner.
async fn next_event(
    runner: &mut Runner<'_>,
    signals: &mut Signals,
    temporal: &mut Watcher,
    reports: &mut mpsc::Receiver<PollerEvent>,
) -> Next {
    let timer = runner.timer();
    // Biased: what happened (an exit, a doubt about Temporal) is handled before a timer
    // that is due at the same moment, so no worker starts on news already out of date.
    tokio::select! {
        biased;
        signal = signals.recv() => match signal {
            Signal::SIGCHLD => runner.reap(),
            Signal::SIGTERM | Signal::SIGINT => runner.stop_requested(signal),
            Signal::SIGTSTP => runner.job_stop(),
            other => {
                runner.forward(other);
                Next::Continue
            }
        },
        event = temporal.next() => match event {
            TemporalEvent::Ready => runner.temporal_ready(),
            TemporalEvent::GaveUp => Next::Exit(runner.gave_up()),
            TemporalEvent::Suspect => runner.temporal_suspect(),
            TemporalEvent::Confirmed { since } => runner.temporal_confirmed(since),
            TemporalEvent::Lost => runner.temporal_lost(),
            TemporalEvent::Back => {
                runner.temporal_back();
                Next::Continue
            }
        },
        Some(report) = reports.recv() => runner.on_pollers(report),
        () = sleep_until_some(timer) => runner.on_timer(),
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
