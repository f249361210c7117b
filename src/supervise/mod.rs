//! `run`: supervising the workers, as states and events.
//!
//! - [`launch`]: what every worker process starts with (its program found before anything
//!   waits, the connection handed over, its output);
//! - [`worker`]: one state machine per worker process ([`state`]: waiting for Temporal,
//!   running, stopping, backing off, exited), with its own restart policy and crash-loop
//!   backoff ([`policy`], pure functions; what its exits lead to is in [`exits`]), its stop
//!   ([`stopping`]: a drain, signal, grace, SIGKILL), its pollers ([`polling`]) and its way to
//!   Temporal ([`link`]);
//! - [`runner`]: one Temporal for all (one wait and one monitor, through
//!   [`crate::watcher`]): Temporal's changes and the supervisor's signals fanned out to every
//!   worker ([`replicas`]); where `run` stands is one [`phase`]; why and with what code it
//!   ends is in [`ending`].
//!
//! This module is the loop: it turns signals, the wait's end, the monitor's reports, poller
//! reports and timers into events for the runner.

mod ending;
pub mod event;
mod exits;
pub mod launch;
mod link;
pub mod phase;
pub mod policy;
pub mod polling;
mod replicas;
pub mod runner;
mod state;
pub mod stopping;
pub mod worker;

#[cfg(test)]
mod tests;

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{error, warn};

use crate::config::{Config, WorkerSpec};
use crate::endpoint::{DrainReport, Heard};
use crate::exit;
use crate::host::Host;
use crate::logging;
use crate::process::signals::Signals;
use crate::process::system::System;
use crate::process::{child, terminal};
use crate::supervise::launch::Launch;
use crate::supervise::runner::Runner;
use crate::temporal::poller_watch::PollerEvent;
use crate::watcher::{TemporalEvent, Watcher};

/// What the supervisor's loop does next.
#[derive(Debug, PartialEq)]
pub enum Next {
    Continue,
    /// Stop watching Temporal and wait for it (again).
    Wait,
    /// Stop watching Temporal: it no longer matters (the workers are being stopped to end).
    StopWatching,
    /// Ask the monitor for a probe at once: a worker's restart waits for it.
    CheckTemporal,
    Exit(u8),
}

/// How long, at most, the workers' last output lines may take to come through at exit.
const OUTPUT_FINISH: Duration = Duration::from_secs(2);

/// Runs the supervisor until it exits; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    debug_assert!(
        !config.workers.is_empty(),
        "resolve refuses run without a worker"
    );
    let mut host = Host::new(config);
    let (reports_tx, reports) = mpsc::channel(64);
    let (drains_tx, drains) = mpsc::channel(16);
    let single = config.workers.len() == 1 && config.workers[0].replicas == 1;
    let take_terminal = single && !config.workers[0].prefix_output && terminal::available();
    let launch = match Launch::prepare(
        config,
        host.status.clone(),
        host.temporal.well(),
        (reports_tx, drains_tx),
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
    let mut signals = match host.serve(config, None, take_terminal) {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    // With the connection handed over, each worker connects through an endpoint of its own.
    let (heard_tx, heard) = mpsc::unbounded_channel();
    let endpoint = |worker: &WorkerSpec, (label, index): (&str, usize)| match worker.endpoint {
        Some(listen) if config.run.export_connection => host
            .endpoint(config, listen, (label, index), Some(&heard_tx))
            .map(Some),
        _ => Ok(None),
    };
    let mut runner = match Runner::new(launch, endpoint) {
        Ok(runner) => runner,
        Err(e) => {
            error!("{e}");
            return exit::OS_ERROR;
        }
    };
    let mut inbox = Inbox {
        reports,
        drains,
        heard,
    };
    let temporal = &mut host.temporal;
    temporal.wait(config.wait.clone());
    loop {
        let next = next_event(&mut runner, &mut signals, temporal, &mut inbox).await;
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
/// What the workers' background tasks report to the loop.
struct Inbox {
    reports: mpsc::Receiver<PollerEvent>,
    drains: mpsc::Receiver<(usize, DrainReport)>,
    heard: mpsc::UnboundedReceiver<(usize, Heard)>,
}

async fn next_event(
    runner: &mut Runner<'_>,
    signals: &mut Signals,
    temporal: &mut Watcher,
    inbox: &mut Inbox,
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
            TemporalEvent::GaveUp => Next::Exit(ending::gave_up(&runner.launch.status)),
            TemporalEvent::Suspect => runner.temporal_suspect(),
            TemporalEvent::Confirmed { since } => runner.temporal_confirmed(since),
            TemporalEvent::Lost => runner.temporal_lost(),
            TemporalEvent::Back => {
                runner.temporal_back();
                Next::Continue
            }
        },
        Some(report) = inbox.reports.recv() => runner.on_pollers(report),
        Some((index, report)) = inbox.drains.recv() => runner.on_drained(index, report),
        Some((index, what)) = inbox.heard.recv() => runner.on_heard(index, what),
        () = sleep_until_some(timer) => runner.on_timer(),
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
