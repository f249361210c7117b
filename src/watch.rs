//! `watch`: a sidecar that starts nothing. It waits for Temporal and watches it as `run` does
//! (the same wait, monitor and poller checks, at the same cost to the server), proves that this
//! pod's workers poll their task queues, and serves the health endpoints for them.
//!
//! A poller counts when its identity's host part is this host's name, with any pid: the
//! containers of a pod share its hostname, not their pids (`--worker-identity` overrides).
//! It never gives up on Temporal (a sidecar that exits only gets restarted by the kubelet; it
//! reports instead), never signals anything, and ends at once with 0 on SIGTERM or SIGINT.

use std::time::SystemTime;

use tokio::time::Instant;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::exit;
use crate::serve::health;
use crate::serve::status::{RunState, Status};
use crate::task::AbortOnDrop;
use crate::temporal::poller_watch::{PollerEvent, PollerWatch};
use crate::temporal::pollers::{PollerCheck, PollerReport};
use crate::temporal::probe::Prober;
use crate::watcher::{TemporalEvent, Watcher};

/// One poller watch per configured worker, each added to the status.
fn watched(
    config: &Config,
    status: &Status,
    temporal: &Watcher,
    reports_tx: &mpsc::Sender<PollerEvent>,
) -> Vec<Watched> {
    let mut workers = Vec::new();
    for (index, spec) in config.workers.iter().enumerate() {
        let check = PollerCheck::new(&spec.pollers, &config.connection, None)
            .expect("resolve requires task queues for watch");
        info!(
            worker = %spec.name,
            task_queues = %spec.pollers.task_queues.join(","),
            identity = %check.identity(),
            deployment = check.deployment().as_deref().unwrap_or("any"),
            "watching the worker's pollers; starting nothing"
        );
        assert_eq!(status.add_watched(&spec.name, spec.optional), index);
        // No process of ours: the pid that tags each report (0) is not looked at.
        let watch = PollerWatch::start(
            check,
            0,
            temporal.well(),
            config.monitor.clone(),
            index,
            reports_tx.clone(),
        );
        workers.push(Watched {
            name: spec.name.clone(),
            watch,
            polling: None,
            proven_until: None,
            error: None,
        });
    }
    workers
}

/// Runs `watch` until SIGTERM or SIGINT; returns the exit code.
pub async fn run(config: &Config) -> u8 {
    let status = Status::new();
    let addr = config
        .health
        .listen
        .expect("resolve requires --health-listen for watch");
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers");
        return exit::OS_ERROR;
    };
    let _server = match health::bind(addr) {
        Ok(listener) => {
            info!(%addr, "serving /livez, /readyz, /startupz and /metrics");
            AbortOnDrop::spawn(health::serve(listener, status.clone()))
        }
        Err(e) => {
            error!("cannot listen on {addr} for health endpoints: {e}");
            return exit::OS_ERROR;
        }
    };
    let mut temporal = Watcher::new(
        Prober::new(config.connection.clone()),
        config.monitor.clone(),
        status.clone(),
    );
    let (reports_tx, mut reports) = mpsc::channel(64);
    let mut workers = watched(config, &status, &temporal, &reports_tx);
    status.report().state = RunState::WaitingForTemporal;
    // A sidecar reports; it never gives up on Temporal.
    temporal.wait(config.wait.without_limits());
    let mut lost_at: Option<SystemTime> = None;
    loop {
        tokio::select! {
            _ = term.recv() => return stopped("SIGTERM"),
            _ = int.recv() => return stopped("SIGINT"),
            event = temporal.next() => match event {
                TemporalEvent::Ready => {
                    status.set_temporal_up(true);
                    status.first_ready();
                    status.report().state = RunState::Running;
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
                    status.report().state = RunState::TemporalLost;
                    warn!("Temporal lost; not ready until it is back and the workers poll again");
                    temporal.wait(config.wait.without_limits());
                }
                // Neither comes: there are no limits, and the watch stops at a loss.
                // Neither of the first two comes (no limits, no watch after a loss); doubt
                // holds starts, and a sidecar starts nothing.
                TemporalEvent::GaveUp
                | TemporalEvent::Back
                | TemporalEvent::Suspect
                | TemporalEvent::Confirmed { .. } => {}
            },
            Some(event) = reports.recv() => on_pollers(&status, &mut workers, event),
        }
    }
}

fn stopped(signal: &str) -> u8 {
    info!("{signal} received; exiting");
    exit::OK
}

/// One worker `watch` proves by its pollers.
struct Watched {
    name: String,
    watch: PollerWatch,
    /// What the last check found, to log only the changes.
    polling: Option<bool>,
    /// Until when the last proof holds (its newest poller ages out then).
    proven_until: Option<Instant>,
    /// Why the last check failed, to say each reason once.
    error: Option<String>,
}

impl Watched {
    /// After an outage only polls since the loss count: not ready until one is seen.
    fn must_poll_again(&mut self, index: usize, lost_at: SystemTime, status: &Status) {
        self.watch.count_polls_after(lost_at);
        self.proven_until = None;
        self.polling = Some(false);
        let finding = "not seen polling since Temporal came back".to_string();
        status.set_polling(index, false, 0, &[finding]);
    }
}

/// Records a poller check; says so when a worker starts or stops polling. A check that fails
/// is said once per reason; the last proof holds until it runs out, then the reason is the
/// finding.
fn on_pollers(status: &Status, workers: &mut [Watched], (index, _, report): PollerEvent) {
    let w = &mut workers[index];
    let (polling, seen, findings) = match report {
        Ok(PollerReport {
            polling,
            seen,
            findings,
            fresh_for,
        }) => {
            w.error = None;
            w.proven_until = fresh_for.map(|fresh| Instant::now() + fresh);
            (polling, seen, findings)
        }
        Err(e) => {
            let reason = format!(
                "cannot check the worker's pollers: {}: {}",
                e.stage, e.reason
            );
            if w.error.as_ref() != Some(&reason) {
                warn!(worker = %w.name, %reason, "poller check failed");
                w.error = Some(reason.clone());
            }
            if w.proven_until.is_some_and(|until| Instant::now() < until) {
                return;
            }
            (false, 0, vec![reason])
        }
    };
    status.set_polling(index, polling, seen, &findings);
    let before = w.polling.replace(polling);
    if before == Some(polling) {
        return;
    }
    let reason = findings.join("; ");
    match (polling, before) {
        (true, _) => info!(worker = %w.name, pollers = seen, "worker polls its task queues"),
        (false, None) => info!(worker = %w.name, %reason, "worker not polling yet"),
        (false, Some(_)) => warn!(worker = %w.name, %reason, "worker not polling"),
    }
}
