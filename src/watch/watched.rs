//! One worker `watch` proves by its pollers (and, given an endpoint, serves and drains).

use std::time::SystemTime;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::WorkerSpec;
use crate::endpoint::proof::Proof;
use crate::endpoint::{Drain, Endpoint};
use crate::serve::status::Status;
use crate::temporal::poller_watch::PollerEvent;
use crate::temporal::pollers::PollerReport;

pub struct Watched {
    pub name: String,
    proof: Proof,
    /// Its local endpoint, when it connects through the sidecar.
    pub endpoint: Option<Endpoint>,
    /// Its drain under way.
    pub drain: Option<Drain>,
    /// Its last drain is over (and no resumption followed).
    pub drained: bool,
    /// From the start of a drain to SIGKILL, as its container's stop is configured.
    pub stop_timeout: std::time::Duration,
    /// The part of `stop_timeout` kept for the worker's own stop after a drain.
    pub stop_grace: std::time::Duration,
    /// How long open polls Temporal cannot complete may end by themselves.
    pub drain_poll_wait: std::time::Duration,
    /// What the last check found, to log only the changes.
    polling: Option<bool>,
    /// Until when the last proof holds (its newest poller ages out then).
    proven_until: Option<Instant>,
    /// Why the last check failed, to say each reason once.
    error: Option<String>,
}

impl Watched {
    pub fn new(spec: &WorkerSpec, proof: Proof, endpoint: Option<Endpoint>) -> Watched {
        Watched {
            name: spec.name.clone(),
            proof,
            endpoint,
            drain: None,
            drained: false,
            stop_timeout: spec.process.stop_timeout,
            stop_grace: spec.process.stop_grace,
            drain_poll_wait: spec.process.drain_poll_wait,
            polling: None,
            proven_until: None,
            error: None,
        }
    }

    /// After an outage only polls since the loss count: not ready until one is seen.
    pub fn must_poll_again(&mut self, index: usize, lost_at: SystemTime, status: &Status) {
        self.proof.count_polls_after(lost_at);
        self.proven_until = None;
        self.polling = Some(false);
        let finding = "not seen polling since Temporal came back".to_string();
        status.set_polling(index, false, 0, &[finding]);
    }
}

/// Records a poller check; says so when a worker starts or stops polling. A check that fails
/// is said once per reason; the last proof holds until it runs out, then the reason is the
/// finding.
pub fn on_pollers(status: &Status, workers: &mut [Watched], (index, _, report): PollerEvent) {
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
