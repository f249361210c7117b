//! Watching Temporal while workers run, at near-zero cost to the server.
//!
//! While all is well the monitor holds one connection and sends almost nothing:
//!
//! - HTTP/2 keepalive pings every `keepalive_interval` (pings are not requests to Temporal): a
//!   frozen or blackholed server stops answering them, and the connection is closed after
//!   `keepalive_timeout`;
//! - a `grpc.health.v1.Health/Watch` stream: the server pushes any change of the
//!   WorkflowService's status, and the stream breaks at once when the connection drops (server
//!   killed, connection reset, or closed by the keepalive);
//! - a real request every `probe_interval` (jittered): `DescribeNamespace` proves the
//!   namespace.
//!
//! The frontend also closes connections by age (`frontend.keepAliveMaxConnectionAge`, 5 min),
//! which ends the watch by design: that alone is not a failure.
//!
//! When the watch ends or a probe fails, Temporal is suspect: probes (a full readiness check,
//! each bounded by `probe_timeout`) start every `recheck_interval` without waiting for the one
//! before, so a frozen server whose probes all time out is judged as fast as a dead one that
//! refuses them. The first good probe opens the watch again; `failure_threshold` failures in a
//! row make Temporal lost ([`MonitorEvent::Lost`]). While lost, probes follow every
//! `probe_interval` until `success_threshold` good ones make it back.
//!
//! Without a watch (the server refuses the health service to an API key, as Temporal Cloud
//! does), the request every `probe_interval` is all there is, and a lost connection is noticed
//! at the next one.
//!
//! A probe refused by the server's rate limiter (ResourceExhausted) shows the server is there:
//! it counts neither way, and the next follows at `probe_interval`.

use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::tonic::codec::Streaming;
use temporalio_client::tonic::{Code, IntoRequest};
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::debug;

use crate::config::MonitorSettings;
use crate::temporal::pollers::{PollerCheck, PollerReport};
use crate::temporal::probe::{Bound, ProbeError, Prober, WORKFLOW_SERVICE};

/// What the monitor saw.
#[derive(Debug)]
pub enum MonitorEvent {
    /// A probe finished: its latency, or why it failed, with the failures in a row so far.
    Probe {
        result: Result<Duration, ProbeError>,
        failures: u32,
    },
    /// The health watch ended; probes follow at once.
    WatchEnded(String),
    /// `failure_threshold` probes failed in a row.
    Lost,
    /// `success_threshold` probes succeeded in a row after a loss.
    Back,
    /// After a good probe, with task queues: the worker's pollers.
    Pollers(Result<PollerReport, ProbeError>),
}

/// The running monitor; stops when dropped.
pub struct Monitor {
    events: mpsc::Receiver<MonitorEvent>,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Starts watching. With `ready`, the connection of the readiness check that just
    /// succeeded, no request is repeated: the watch opens on it at once.
    pub fn start(
        prober: Prober,
        settings: MonitorSettings,
        ready: Option<Connection>,
        pollers: Option<PollerCheck>,
    ) -> Monitor {
        let (tx, events) = mpsc::channel(16);
        let now = Instant::now();
        let task = Task {
            health: Health::new(settings.failure_threshold, settings.success_threshold),
            next_probe: match &ready {
                Some(_) => now + jittered(settings.probe_interval, settings.jitter),
                None => now,
            },
            connection: ready,
            watch: None,
            watch_refused: false,
            suspect: false,
            probes: JoinSet::new(),
            next_pollers: now,
            seen_polling: false,
            pollers,
            prober,
            settings,
            tx,
        };
        Monitor {
            events,
            task: tokio::spawn(task.run()),
        }
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

/// Until the worker is first seen polling, look at its pollers at least this often, so that
/// readiness follows the worker's first poll closely.
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A finished probe: the connection it proved, or why it failed; and how long it took.
type ProbeOutcome = (Result<Connection, ProbeError>, Duration);

struct Task {
    prober: Prober,
    settings: MonitorSettings,
    tx: mpsc::Sender<MonitorEvent>,
    health: Health,
    /// The connection of the last good probe.
    connection: Option<Connection>,
    watch: Option<Streaming<HealthCheckResponse>>,
    /// The server refuses the watch outright: do not ask again.
    watch_refused: bool,
    /// The watch broke or a probe failed, and no probe has succeeded since.
    suspect: bool,
    probes: JoinSet<ProbeOutcome>,
    next_probe: Instant,
    pollers: Option<PollerCheck>,
    next_pollers: Instant,
    seen_polling: bool,
}

/// What woke the monitor.
enum Wake {
    WatchEnded(String),
    ProbeDue,
    ProbeDone(ProbeOutcome),
    PollersDue,
}

/// The receiver is gone: the supervisor dropped the monitor.
struct Closed;

impl Task {
    async fn run(mut self) {
        if self.connection.is_some() {
            self.open_watch().await;
        }
        loop {
            let wake = tokio::select! {
                reason = watch_ends(&mut self.watch) => Wake::WatchEnded(reason),
                () = sleep_until(self.next_probe), if self.may_start_probe() => Wake::ProbeDue,
                Some(Ok(done)) = self.probes.join_next(), if !self.probes.is_empty() => {
                    Wake::ProbeDone(done)
                }
                () = sleep_until(self.next_pollers), if self.pollers_due() => Wake::PollersDue,
            };
            let handled = match wake {
                Wake::WatchEnded(reason) => self.on_watch_ended(reason).await,
                Wake::ProbeDue => {
                    self.start_probe();
                    Ok(())
                }
                Wake::ProbeDone((result, latency)) => self.on_probe_done(result, latency).await,
                Wake::PollersDue => self.check_pollers().await,
            };
            if handled.is_err() {
                return;
            }
        }
    }

    async fn send(&self, event: MonitorEvent) -> Result<(), Closed> {
        self.tx.send(event).await.map_err(|_| Closed)
    }

    /// While well, one probe at a time; while suspect, up to `failure_threshold` at once.
    fn may_start_probe(&self) -> bool {
        if self.suspect && self.health.is_up() {
            self.probes.len() < self.settings.failure_threshold as usize
        } else {
            self.probes.is_empty()
        }
    }

    fn pollers_due(&self) -> bool {
        self.pollers.is_some() && !self.suspect && self.health.is_up() && self.connection.is_some()
    }

    /// The wait before the next probe: `recheck_interval` while suspect (and not yet lost),
    /// else `probe_interval`; jittered either way.
    fn probe_pause(&self) -> Duration {
        let pause = if self.suspect && self.health.is_up() {
            self.settings.recheck_interval
        } else {
            self.settings.probe_interval
        };
        jittered(pause, self.settings.jitter)
    }

    fn start_probe(&mut self) {
        let prober = self.prober.clone();
        let bound = Bound::new(self.settings.probe_timeout, "probe timeout");
        // A well connection with its watch open only needs the namespace proved; anything
        // else gets the whole readiness check, on the connection we have if any (a channel
        // that lost its server reconnects by itself), else on a fresh one.
        let namespace_only = self.watch.is_some();
        let existing = self.connection.clone();
        self.probes.spawn(async move {
            let result = async {
                let connection = match existing {
                    Some(connection) => connection,
                    None => prober.connect(&bound).await?.0,
                };
                if namespace_only {
                    prober.check_namespace(&connection, &bound).await?;
                } else {
                    prober.check_ready(&connection, &bound).await?;
                }
                Ok(connection)
            }
            .await;
            (result, bound.elapsed())
        });
        self.next_probe = Instant::now() + self.probe_pause();
    }

    async fn on_probe_done(
        &mut self,
        result: Result<Connection, ProbeError>,
        latency: Duration,
    ) -> Result<(), Closed> {
        let change = match result {
            Ok(connection) => {
                let change = self.health.record(true);
                self.send(MonitorEvent::Probe {
                    result: Ok(latency),
                    failures: 0,
                })
                .await?;
                if self.suspect {
                    // Well again: the probes still out are moot.
                    self.suspect = false;
                    self.probes.abort_all();
                    self.next_probe = Instant::now() + self.probe_pause();
                }
                self.connection = Some(connection);
                if self.watch.is_none() {
                    self.open_watch().await;
                }
                change
            }
            Err(e) if e.rate_limited() => {
                self.send(MonitorEvent::Probe {
                    result: Err(e),
                    failures: self.health.failures(),
                })
                .await?;
                self.next_probe =
                    Instant::now() + jittered(self.settings.probe_interval, self.settings.jitter);
                None
            }
            Err(e) => {
                let change = self.health.record(false);
                self.send(MonitorEvent::Probe {
                    result: Err(e),
                    failures: self.health.failures(),
                })
                .await?;
                // From the first failure on, probes make fresh connections from DNS up.
                self.connection = None;
                self.watch = None;
                if !self.suspect {
                    self.suspect = true;
                    self.next_probe = Instant::now() + self.probe_pause();
                }
                change
            }
        };
        match change {
            Some(Change::Lost) => self.send(MonitorEvent::Lost).await,
            Some(Change::Back) => self.send(MonitorEvent::Back).await,
            None => Ok(()),
        }
    }

    async fn on_watch_ended(&mut self, reason: String) -> Result<(), Closed> {
        self.watch = None;
        self.send(MonitorEvent::WatchEnded(reason)).await?;
        if !self.suspect {
            self.suspect = true;
            self.next_probe = Instant::now();
        }
        Ok(())
    }

    async fn open_watch(&mut self) {
        if self.watch_refused || !self.prober.health_allowed() {
            return;
        }
        let Some(connection) = &self.connection else {
            return;
        };
        let mut request = HealthCheckRequest {
            service: WORKFLOW_SERVICE.to_string(),
        }
        .into_request();
        // The stream lives as long as the connection; without this the client's 30 s default
        // deadline would end it.
        request.set_timeout(Duration::from_secs(24 * 3600));
        match timeout(
            self.settings.probe_timeout,
            connection.health_service().watch(request),
        )
        .await
        {
            Ok(Ok(response)) => self.watch = Some(response.into_inner()),
            Ok(Err(status)) => {
                let code = status.code();
                self.watch_refused = matches!(
                    code,
                    Code::Unimplemented | Code::Unauthenticated | Code::PermissionDenied
                );
                debug!(
                    ?code,
                    "health watch not available; probing on the interval only"
                );
            }
            Err(_) => debug!("health watch did not open in time; probing on the interval"),
        }
    }

    async fn check_pollers(&mut self) -> Result<(), Closed> {
        let (Some(check), Some(connection)) = (&self.pollers, &self.connection) else {
            return Ok(());
        };
        let bound = Bound::new(self.settings.probe_timeout, "probe timeout");
        let report = check.check(connection, &bound).await;
        self.seen_polling |= report.as_ref().is_ok_and(|r| r.polling);
        self.next_pollers = Instant::now()
            + if self.seen_polling {
                jittered(self.settings.probe_interval, self.settings.jitter)
            } else {
                FIRST_POLL_INTERVAL.min(self.settings.probe_interval)
            };
        self.send(MonitorEvent::Pollers(report)).await
    }
}

/// `interval` shortened by a random fraction of at most `jitter`, so that supervisors
/// started together do not send their requests in step.
fn jittered(interval: Duration, jitter: f64) -> Duration {
    interval.mul_f64(1.0 - jitter.clamp(0.0, 1.0) * fastrand::f64())
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

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let interval = Duration::from_secs(60);
        for _ in 0..1000 {
            let d = jittered(interval, 0.2);
            assert!(d <= interval && d >= Duration::from_secs(48), "{d:?}");
        }
        assert_eq!(jittered(interval, 0.0), interval);
    }
}
