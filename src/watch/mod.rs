//! `watch`: a sidecar that starts nothing. It waits for Temporal and watches it as `run` does
//! (the same host: status, watcher, signals, health endpoints), proves that this pod's workers
//! poll their task queues, and serves the health endpoints for them.
//!
//! A poller counts when its identity's host part is this host's name, with any pid: the
//! containers of a pod share its hostname, not their pids (`--worker-identity` overrides).
//! A worker given an endpoint (`--endpoint-listen`) connects to the sidecar on localhost
//! instead of Temporal: its polls through the endpoint prove it (so a worker container
//! restarted in place is not taken for ready on its predecessor's pollers), and its
//! container's `preStop` hook can drain it through `/drain` ([`drains`]).
//!
//! It never gives up on Temporal (a sidecar that exits only gets restarted by the kubelet; it
//! reports instead) and never signals anything. On SIGTERM or SIGINT it ends with 0: at once
//! without endpoints; with them, after draining the workers that were not drained yet and
//! once their connections are gone (they need the sidecar to finish their work), within the
//! stop timeout.

mod drains;
mod watched;

use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::endpoint::proof::{Proof, ProofWatch};
use crate::exit;
use crate::host::Host;
use crate::serve::health::Drains;
use crate::serve::status::{RunState, Status};
use crate::temporal::poller_watch::{PollerEvent, PollerWatch};
use crate::temporal::pollers::PollerCheck;
use crate::watch::drains::DrainBook;
use crate::watch::watched::Watched;
use crate::watcher::TemporalEvent;

/// Runs `watch` until SIGTERM or SIGINT; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    let mut host = Host::new(config);
    let (asks_tx, mut asks) = mpsc::channel(4);
    let with_endpoints = config.workers.iter().any(|w| w.endpoint.is_some());
    let drains = with_endpoints.then(|| Drains {
        asks: asks_tx,
        longest: longest_stop(config),
    });
    let mut signals = match host.serve(config, drains, false) {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (drained_tx, mut drained) = mpsc::channel(16);
    let workers = match watch_workers(config, &host, &reports_tx) {
        Ok(workers) => workers,
        Err(code) => return code,
    };
    let mut sidecar = Sidecar {
        status: host.status.clone(),
        workers,
        book: DrainBook::new(drained_tx),
        temporal: Seen::Waiting,
        with_endpoints,
    };
    sidecar.status.set_state(RunState::WaitingForTemporal);
    let temporal = &mut host.temporal;
    // A sidecar reports; it never gives up on Temporal.
    temporal.wait(config.wait.without_limits());
    loop {
        let ends = tokio::select! {
            signal = signals.recv() => sidecar.on_signal(signal),
            event = temporal.next() => {
                if sidecar.on_temporal(event) {
                    temporal.wait(config.wait.without_limits());
                }
                false
            }
            Some(event) = reports.recv() => {
                watched::on_pollers(&sidecar.status, &mut sidecar.workers, event);
                false
            }
            Some(ask) = asks.recv() => {
                sidecar.book.ask(ask, &mut sidecar.workers, &sidecar.status);
                false
            }
            Some((index, report)) = drained.recv() => {
                sidecar.book.drained(index, report, &mut sidecar.workers)
            }
            () = sidecar.book.next_timer() => {
                sidecar.book.on_timer(&mut sidecar.workers, &sidecar.status)
            }
        };
        if ends {
            return exit::OK;
        }
    }
}

/// The longest stop timeout of the workers: what `/drain` may take.
fn longest_stop(config: &Config) -> Duration {
    config
        .workers
        .iter()
        .map(|w| w.process.stop_timeout)
        .max()
        .unwrap_or_default()
}

/// Starts watching each configured worker: its poller check, and its endpoint when it has one;
/// reports go to `reports`. On failure, says why and returns the exit code.
fn watch_workers(
    config: &Config,
    host: &Host,
    reports: &mpsc::Sender<PollerEvent>,
) -> Result<Vec<Watched>, u8> {
    let mut workers = Vec::new();
    for (index, spec) in config.workers.iter().enumerate() {
        let check = PollerCheck::new(&spec.pollers, &config.connection, None)
            .expect("resolve requires task queues for watch");
        assert_eq!(host.status.add_watched(&spec.name, spec.optional), index);
        let endpoint = match spec.endpoint {
            Some(listen) => match host.endpoint(config, listen, (&spec.name, index), None) {
                Ok(endpoint) => Some(endpoint),
                Err(e) => {
                    error!("{e}");
                    return Err(exit::OS_ERROR);
                }
            },
            None => None,
        };
        info!(
            worker = %spec.name,
            task_queues = %spec.pollers.task_queues.join(","),
            identity = %check.identity(),
            deployment = check.deployment().as_deref().unwrap_or("any"),
            proof = if endpoint.is_some() { "its polls through the endpoint" } else { "DescribeTaskQueue" },
            "watching the worker's pollers; starting nothing"
        );
        // No process of ours: the pid that tags each report (0) is not looked at.
        let (well, monitor) = (host.temporal.well(), config.monitor.clone());
        let judge = (spec.pollers.clone(), check.clone());
        let server = move |tx| PollerWatch::start(check, 0, well, monitor, index, tx);
        let proof = match &endpoint {
            Some(e) => Proof::Endpoint(ProofWatch::start(
                e.view(),
                judge,
                Box::new(server),
                (index, 0),
                reports.clone(),
            )),
            None => Proof::Server(server(reports.clone())),
        };
        workers.push(Watched::new(spec, proof, endpoint));
    }
    Ok(workers)
}

/// Temporal, as the sidecar has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not ready yet.
    Waiting,
    Ready,
    /// Lost at this moment, and not back yet.
    Lost(SystemTime),
}

/// What the sidecar keeps between events.
struct Sidecar {
    status: Status,
    workers: Vec<Watched>,
    book: DrainBook,
    temporal: Seen,
    /// Some worker has an endpoint: a stop drains first.
    with_endpoints: bool,
}

impl Sidecar {
    /// A signal; returns whether `watch` ends now.
    fn on_signal(&mut self, signal: Signal) -> bool {
        match signal {
            Signal::SIGTERM | Signal::SIGINT if !self.with_endpoints => {
                info!("{} received; exiting", signal.as_str());
                true
            }
            Signal::SIGTERM | Signal::SIGINT => {
                self.book.end(signal, &mut self.workers, &self.status)
            }
            // Nothing of ours to forward to or reap.
            _ => false,
        }
    }

    /// What the watcher saw; returns whether to wait for Temporal again (it was lost).
    fn on_temporal(&mut self, event: TemporalEvent) -> bool {
        match event {
            TemporalEvent::Ready => {
                self.status.set_temporal_up(true);
                self.status.first_ready();
                if !self.book.draining() {
                    self.status.set_state(RunState::Running);
                }
                match std::mem::replace(&mut self.temporal, Seen::Ready) {
                    Seen::Lost(at) => {
                        info!("Temporal is back; ready once the workers poll again");
                        for (index, w) in self.workers.iter_mut().enumerate() {
                            w.must_poll_again(index, at, &self.status);
                        }
                    }
                    Seen::Waiting | Seen::Ready => {
                        info!("Temporal is ready; watching it and the workers' pollers")
                    }
                }
                false
            }
            TemporalEvent::Lost => {
                self.temporal = Seen::Lost(SystemTime::now());
                if !self.book.draining() {
                    self.status.set_state(RunState::TemporalLost);
                }
                warn!("Temporal lost; not ready until it is back and the workers poll again");
                true
            }
            // Neither of the first two comes (no limits, no watch after a loss); doubt
            // holds starts, and a sidecar starts nothing.
            TemporalEvent::GaveUp
            | TemporalEvent::Back
            | TemporalEvent::Suspect
            | TemporalEvent::Confirmed { .. } => false,
        }
    }
}
