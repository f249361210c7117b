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

use std::time::SystemTime;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::endpoint::proof::{Proof, ProofWatch};
use crate::exit;
use crate::host::Host;
use crate::serve::health::Drains;
use crate::serve::status::RunState;
use crate::temporal::poller_watch::PollerWatch;
use crate::temporal::pollers::PollerCheck;
use crate::watch::drains::DrainBook;
use crate::watch::watched::Watched;
use crate::watcher::TemporalEvent;

/// Runs `watch` until SIGTERM or SIGINT; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    let mut host = Host::new(config);
    let (asks_tx, mut asks) = mpsc::channel(4);
    let longest = config
        .workers
        .iter()
        .map(|w| w.process.stop_timeout)
        .max()
        .unwrap_or_default();
    let with_endpoints = config.workers.iter().any(|w| w.endpoint.is_some());
    let drains = with_endpoints.then(|| Drains {
        asks: asks_tx,
        longest,
    });
    let mut signals = match host.serve(config, drains, false) {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    let status = host.status.clone();
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (drained_tx, mut drained) = mpsc::channel(16);
    let mut workers = Vec::new();
    for (index, spec) in config.workers.iter().enumerate() {
        let check = PollerCheck::new(&spec.pollers, &config.connection, None)
            .expect("resolve requires task queues for watch");
        assert_eq!(status.add_watched(&spec.name, spec.optional), index);
        let endpoint = match spec.endpoint {
            Some(listen) => match host.endpoint(config, listen, (&spec.name, index), None) {
                Ok(endpoint) => Some(endpoint),
                Err(e) => {
                    error!("{e}");
                    return exit::OS_ERROR;
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
                reports_tx.clone(),
            )),
            None => Proof::Server(server(reports_tx.clone())),
        };
        workers.push(Watched::new(spec, proof, endpoint));
    }
    let mut book = DrainBook::new(drained_tx);
    status.report().state = RunState::WaitingForTemporal;
    let temporal = &mut host.temporal;
    // A sidecar reports; it never gives up on Temporal.
    temporal.wait(config.wait.without_limits());
    let mut lost_at: Option<SystemTime> = None;
    loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                Signal::SIGTERM | Signal::SIGINT if !with_endpoints => {
                    info!("{} received; exiting", signal.as_str());
                    return exit::OK;
                }
                Signal::SIGTERM | Signal::SIGINT if book.end(signal, &mut workers, &status) => {
                    return exit::OK;
                }
                // Nothing of ours to forward to or reap.
                _ => {}
            },
            event = temporal.next() => match event {
                TemporalEvent::Ready => {
                    status.set_temporal_up(true);
                    status.first_ready();
                    if !book.draining() {
                        status.report().state = RunState::Running;
                    }
                    match lost_at.take() {
                        Some(at) => {
                            info!("Temporal is back; ready once the workers poll again");
                            for (index, w) in workers.iter_mut().enumerate() {
                                w.must_poll_again(index, at, &status);
                            }
                        }
                        None => info!("Temporal is ready; watching it and the workers' pollers"),
                    }
                }
                TemporalEvent::Lost => {
                    lost_at = Some(SystemTime::now());
                    if !book.draining() {
                        status.report().state = RunState::TemporalLost;
                    }
                    warn!("Temporal lost; not ready until it is back and the workers poll again");
                    temporal.wait(config.wait.without_limits());
                }
                // Neither of the first two comes (no limits, no watch after a loss); doubt
                // holds starts, and a sidecar starts nothing.
                TemporalEvent::GaveUp
                | TemporalEvent::Back
                | TemporalEvent::Suspect
                | TemporalEvent::Confirmed { .. } => {}
            },
            Some(event) = reports.recv() => watched::on_pollers(&status, &mut workers, event),
            Some(ask) = asks.recv() => book.ask(ask, &mut workers, &status),
            Some((index, report)) = drained.recv() => {
                if book.drained(index, report, &mut workers) {
                    return exit::OK;
                }
            }
            () = book.next_timer() => {
                if book.on_timer(&mut workers, &status) {
                    return exit::OK;
                }
            }
        }
    }
}
