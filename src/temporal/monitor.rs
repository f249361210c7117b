//! Probing Temporal while the worker runs.
//!
//! A background task probes every `probe_interval`, each probe bounded by `probe_timeout`, and
//! reports every result; the supervisor's [`Health`] turns results into "lost" and "back"
//! with its thresholds. Probes reuse one connection while it works (health check and
//! namespace only) and reconnect from DNS up after a failure.
//!
//! Between probes the task keeps a `grpc.health.v1.Health/Watch` stream open on that
//! connection. When the connection drops (server killed, network gone) or the server reports
//! NOT_SERVING, the stream ends and the task probes at once instead of at the next tick.

use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::tonic::IntoRequest;
use temporalio_client::tonic::codec::Streaming;
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::debug;

use crate::temporal::pollers::{PollerCheck, PollerReport};
use crate::temporal::probe::{Bound, ProbeError, Prober, WORKFLOW_SERVICE};

/// What the monitor saw.
#[derive(Debug)]
pub enum MonitorEvent {
    /// A probe finished: its latency, or why it failed.
    Probe(Result<Duration, ProbeError>),
    /// The health watch stream ended; a probe follows at once.
    WatchEnded(String),
    /// After a good probe, with `--task-queue`: the worker's pollers.
    Pollers(Result<PollerReport, ProbeError>),
}

/// The running monitor; stops when dropped.
pub struct Monitor {
    events: mpsc::Receiver<MonitorEvent>,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Starts probing. The first probe is made at once: it opens the connection and the
    /// health watch, so a server that dies a moment later is noticed a moment later.
    pub fn start(
        prober: Prober,
        every: Duration,
        budget: Duration,
        pollers: Option<PollerCheck>,
    ) -> Monitor {
        let (tx, events) = mpsc::channel(8);
        let task = tokio::spawn(run(prober, every, budget, pollers, tx));
        Monitor { events, task }
    }

    pub async fn recv(&mut self) -> Option<MonitorEvent> {
        self.events.recv().await
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Until the worker is first seen polling, look at least this often, so that readiness
/// follows the worker's first poll closely.
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(1);

async fn run(
    prober: Prober,
    every: Duration,
    budget: Duration,
    pollers: Option<PollerCheck>,
    tx: mpsc::Sender<MonitorEvent>,
) {
    let mut next = Instant::now();
    let mut seen_polling = false;
    let mut connection: Option<Connection> = None;
    let mut watch: Option<Streaming<HealthCheckResponse>> = None;
    loop {
        tokio::select! {
            () = sleep_until(next) => {}
            reason = watch_ends(&mut watch) => {
                watch = None;
                if tx.send(MonitorEvent::WatchEnded(reason)).await.is_err() {
                    return;
                }
            }
        }

        let bound = Bound::new(budget, "probe timeout");
        let result = match &connection {
            Some(existing) => prober.check_ready(existing, &bound).await,
            None => match prober.connect(&bound).await {
                Ok((fresh, _)) => {
                    let checked = prober.check_ready(&fresh, &bound).await;
                    connection = Some(fresh);
                    checked
                }
                Err(e) => Err(e),
            },
        };
        let latency = bound.elapsed();
        let ok = result.is_ok();
        if ok {
            if watch.is_none()
                && prober.health_allowed()
                && let Some(c) = &connection
            {
                watch = open_watch(c, budget).await;
            }
        } else {
            connection = None;
            watch = None;
        }
        if tx
            .send(MonitorEvent::Probe(result.map(|()| latency)))
            .await
            .is_err()
        {
            return;
        }
        if ok && let (Some(check), Some(c)) = (&pollers, &connection) {
            let report = check.check(c, &Bound::new(budget, "probe timeout")).await;
            seen_polling |= report.as_ref().is_ok_and(|r| r.polling);
            if tx.send(MonitorEvent::Pollers(report)).await.is_err() {
                return;
            }
        }
        let pause = if pollers.is_some() && !seen_polling {
            every.min(FIRST_POLL_INTERVAL)
        } else {
            every
        };
        next = Instant::now() + pause;
    }
}

async fn open_watch(
    connection: &Connection,
    budget: Duration,
) -> Option<Streaming<HealthCheckResponse>> {
    let mut request = HealthCheckRequest {
        service: WORKFLOW_SERVICE.to_string(),
    }
    .into_request();
    // The stream lives as long as the connection; without this the client's 30 s default
    // deadline would end it.
    request.set_timeout(Duration::from_secs(24 * 3600));
    match timeout(budget, connection.health_service().watch(request)).await {
        Ok(Ok(response)) => Some(response.into_inner()),
        Ok(Err(status)) => {
            debug!(code = ?status.code(), "health watch not available; probing on the interval only");
            None
        }
        Err(_) => None,
    }
}

/// Resolves when the watch stream ends or reports anything but SERVING; never without one.
async fn watch_ends(watch: &mut Option<Streaming<HealthCheckResponse>>) -> String {
    let Some(stream) = watch else {
        return std::future::pending().await;
    };
    loop {
        match stream.message().await {
            Ok(Some(update)) if update.status == ServingStatus::Serving as i32 => continue,
            Ok(Some(update)) => {
                let status = ServingStatus::try_from(update.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("UNKNOWN");
                return format!("the server reports WorkflowService {status}");
            }
            Ok(None) => return "the server closed the health watch".into(),
            Err(status) => return format!("connection lost: {}", status.message()),
        }
    }
}

/// Turns probe results into "lost" and "back", with thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    failure_threshold: u32,
    success_threshold: u32,
    up: bool,
    failures: u32,
    successes: u32,
}

/// A change of Temporal's state as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Lost,
    Back,
}

impl Health {
    /// Starts as up: the supervisor only starts monitoring once Temporal was ready.
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Health {
        Health {
            failure_threshold,
            success_threshold,
            up: true,
            failures: 0,
            successes: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records one probe result; returns the change it causes, if any.
    pub fn record(&mut self, ok: bool) -> Option<Change> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            if !self.up && self.successes >= self.success_threshold {
                self.up = true;
                return Some(Change::Back);
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.up && self.failures >= self.failure_threshold {
                self.up = false;
                return Some(Change::Lost);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_lost_and_back() {
        let mut h = Health::new(3, 2);
        let seen: Vec<_> = [
            false, false, true, false, false, false, false, true, false, true, true, true,
        ]
        .iter()
        .map(|&ok| h.record(ok))
        .collect();
        use Change::*;
        assert_eq!(
            seen,
            [
                None,
                None,
                None,
                None,
                None,
                Some(Lost),
                None,
                None,
                None,
                None,
                Some(Back),
                None
            ]
        );
    }

    #[test]
    fn threshold_of_one_reacts_at_once() {
        let mut h = Health::new(1, 1);
        assert_eq!(h.record(false), Some(Change::Lost));
        assert!(!h.is_up());
        assert_eq!(h.record(true), Some(Change::Back));
        assert!(h.is_up());
    }
}
