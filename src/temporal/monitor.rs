//! Watching Temporal once it was ready (`run` while its workers run, `watch` all along), at
//! near-zero cost to the server.
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
//!
//! The supervisor hears of every doubt ([`MonitorEvent::Suspect`]) and of every probe that
//! found Temporal well ([`MonitorEvent::Confirmed`]), and may ask for a probe at once
//! ([`Monitor::check`]): a worker that exits may have been the first to see Temporal go, and
//! is not started again before a probe made after its exit found Temporal there.

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::Connection;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::backoff::jittered;
use crate::config::MonitorSettings;
use crate::credentials::{self, Credentials, Live};
use crate::task::AbortOnDrop;
use crate::temporal::health_watch::HealthWatch;
use crate::temporal::probe::{Bound, ProbeError, Prober, Stage};
use crate::temporal::thresholds::{Change, Health, Phase};

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
    /// Well no more: the watch ended or a probe failed; probes follow.
    Suspect,
    /// A probe started at `since` found Temporal well.
    Confirmed { since: Instant },
    /// `failure_threshold` probes failed in a row.
    Lost,
    /// `success_threshold` probes succeeded in a row after a loss.
    Back,
}

/// The running monitor; stops when dropped.
pub struct Monitor {
    events: mpsc::Receiver<MonitorEvent>,
    check: Arc<Notify>,
    _task: AbortOnDrop<()>,
}

impl Monitor {
    /// Starts watching. With `ready`, the connection of the readiness check that just
    /// succeeded, no request is repeated: the watch opens on it at once. `well` is told the
    /// connection while Temporal is well, and `None` while it is not (the workers' poller
    /// checks use it).
    pub fn start(
        prober: Prober,
        settings: MonitorSettings,
        ready: Option<Connection>,
        well: watch::Sender<Option<Connection>>,
    ) -> Monitor {
        let (tx, events) = mpsc::channel(16);
        let now = Instant::now();
        // The readiness check just proved it: well from the start.
        if ready.is_some() {
            well.send_replace(ready.clone());
        }
        let check = Arc::new(Notify::new());
        let task = Task {
            health: Health::new(settings.failure_threshold, settings.success_threshold),
            next_probe: match &ready {
                Some(_) => now + jittered(settings.probe_interval, settings.jitter),
                None => now,
            },
            connection: ready,
            live: prober.live(),
            credentials: prober.live().map(|l| l.borrow().clone()),
            watch: HealthWatch::new(),
            probes: JoinSet::new(),
            check: check.clone(),
            well,
            prober,
            settings,
            tx,
        };
        Monitor {
            events,
            check,
            _task: AbortOnDrop::spawn(task.run()),
        }
    }

    pub async fn recv(&mut self) -> Option<MonitorEvent> {
        self.events.recv().await
    }

    /// Asks for a probe at once while Temporal is well (one is under way otherwise): it ends
    /// in [`MonitorEvent::Confirmed`], or in a failure that makes Temporal suspect or lost.
    pub fn check(&self) {
        self.check.notify_one();
    }
}

/// A finished probe: the connection it proved, or why it failed; how long it took, and when
/// it started.
type ProbeOutcome = (Result<Connection, ProbeError>, Duration, Instant);

struct Task {
    prober: Prober,
    settings: MonitorSettings,
    tx: mpsc::Sender<MonitorEvent>,
    health: Health,
    /// The connection of the last good probe.
    connection: Option<Connection>,
    /// The credentials as they rotate, and the ones the connection was made with.
    live: Option<Live>,
    credentials: Option<Arc<Credentials>>,
    watch: HealthWatch,
    probes: JoinSet<ProbeOutcome>,
    next_probe: Instant,
    /// Asks for a probe at once.
    check: Arc<Notify>,
    /// The connection while Temporal is well, for the workers' poller checks.
    well: watch::Sender<Option<Connection>>,
}

/// What woke the monitor.
enum Wake {
    /// The credential files changed: the new ones are proved at once.
    Credentials,
    WatchEnded(String),
    ProbeDue,
    CheckAsked,
    ProbeDone(ProbeOutcome),
}

/// The receiver is gone: the supervisor dropped the monitor.
struct Closed;

impl Task {
    async fn run(mut self) {
        if let Err(e) = self.open_watch().await
            && self.failed(e).await.is_err()
        {
            return;
        }
        self.well.send_replace(self.connection.clone());
        loop {
            let check = self.check.clone();
            let wake = tokio::select! {
                Ok(()) = credentials::changed(&mut self.live) => Wake::Credentials,
                reason = self.watch.ends() => Wake::WatchEnded(reason),
                () = sleep_until(self.next_probe), if self.may_start_probe() => Wake::ProbeDue,
                () = check.notified() => Wake::CheckAsked,
                Some(joined) = self.probes.join_next(), if !self.probes.is_empty() => {
                    match joined {
                        Ok(done) => Wake::ProbeDone(done),
                        // A probe task that panicked: as if it had failed.
                        Err(_) => Wake::ProbeDone((
                            Err(ProbeError::other(Stage::Grpc, "the probe ended unexpectedly")),
                            Duration::ZERO,
                            Instant::now(),
                        )),
                    }
                }
            };
            let handled = match wake {
                Wake::Credentials => {
                    self.on_credentials();
                    Ok(())
                }
                Wake::WatchEnded(reason) => self.on_watch_ended(reason).await,
                Wake::ProbeDue => {
                    self.start_probe();
                    Ok(())
                }
                // While suspect or lost, probes are under way: their results answer.
                Wake::CheckAsked => {
                    if self.health.phase() == Phase::Well {
                        self.start_probe();
                    }
                    Ok(())
                }
                Wake::ProbeDone((result, latency, started)) => {
                    self.on_probe_done(result, latency, started).await
                }
            };
            let well = (self.health.phase() == Phase::Well)
                .then(|| self.connection.clone())
                .flatten();
            self.well.send_replace(well);
            if handled.is_err() {
                return;
            }
        }
    }

    async fn send(&self, event: MonitorEvent) -> Result<(), Closed> {
        self.tx.send(event).await.map_err(|_| Closed)
    }

    /// While suspect, up to `failure_threshold` probes at once; else one at a time.
    fn may_start_probe(&self) -> bool {
        match self.health.phase() {
            Phase::Suspect => self.probes.len() < self.settings.failure_threshold as usize,
            Phase::Well | Phase::Lost => self.probes.is_empty(),
        }
    }

    /// The wait before the next probe: `recheck_interval` while suspect, else
    /// `probe_interval`; jittered either way.
    fn probe_pause(&self) -> Duration {
        let pause = match self.health.phase() {
            Phase::Suspect => self.settings.recheck_interval,
            Phase::Well | Phase::Lost => self.settings.probe_interval,
        };
        jittered(pause, self.settings.jitter)
    }

    fn start_probe(&mut self) {
        let prober = self.prober.clone();
        let bound = Bound::new(self.settings.probe_timeout, "probe timeout");
        // A well connection with its watch open only needs the namespace proved; anything
        // else gets the whole readiness check, on the connection we have if any (a channel
        // that lost its server reconnects by itself), else on a fresh one.
        let namespace_only = self.watch.is_open();
        let existing = self.connection.clone();
        self.probes.spawn(async move {
            let started = Instant::now();
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
            (result, bound.elapsed(), started)
        });
        self.next_probe = Instant::now() + self.probe_pause();
    }

    async fn on_probe_done(
        &mut self,
        result: Result<Connection, ProbeError>,
        latency: Duration,
        started: Instant,
    ) -> Result<(), Closed> {
        let change = match result {
            Ok(connection) => {
                let doubted = self.health.phase() != Phase::Well;
                let change = self.health.record(true);
                self.send(MonitorEvent::Probe {
                    result: Ok(latency),
                    failures: 0,
                })
                .await?;
                if doubted {
                    // The probes still out are moot: dropping the set aborts them, their
                    // results never arrive.
                    self.probes = JoinSet::new();
                    self.next_probe = Instant::now() + self.probe_pause();
                }
                self.connection = Some(connection);
                if !self.watch.is_open()
                    && let Err(e) = self.open_watch().await
                {
                    self.send_change(change).await?;
                    return self.failed(e).await;
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
            Err(e) => return self.failed(e).await,
        };
        self.send_change(change).await?;
        if self.health.phase() == Phase::Well {
            self.send(MonitorEvent::Confirmed { since: started })
                .await?;
        }
        Ok(())
    }

    async fn send_change(&self, change: Option<Change>) -> Result<(), Closed> {
        match change {
            Some(Change::Suspect) => self.send(MonitorEvent::Suspect).await,
            Some(Change::Lost) => self.send(MonitorEvent::Lost).await,
            Some(Change::Back) => self.send(MonitorEvent::Back).await,
            None => Ok(()),
        }
    }

    /// A failed probe (or watch that would not open): counted, reported, and Temporal is
    /// suspect from now on.
    async fn failed(&mut self, e: ProbeError) -> Result<(), Closed> {
        let was_well = self.health.phase() == Phase::Well;
        let change = self.health.record(false);
        self.send(MonitorEvent::Probe {
            result: Err(e),
            failures: self.health.failures(),
        })
        .await?;
        // From the first failure on, probes make fresh connections from DNS up.
        self.connection = None;
        self.watch.close();
        if was_well {
            self.next_probe = Instant::now() + self.probe_pause();
        }
        self.send_change(change).await
    }

    /// New credentials: a new API key goes on the connection for its next requests; new TLS
    /// material needs a new connection (the watch on the old one ends with it). Either way the
    /// next probe, at once, proves them.
    fn on_credentials(&mut self) {
        let Some(live) = &mut self.live else { return };
        let next = live.borrow_and_update().clone();
        let tls = self
            .credentials
            .as_ref()
            .is_none_or(|current| next.tls_differs(current));
        if tls {
            self.connection = None;
            self.watch.close();
        } else if let Some(connection) = &self.connection {
            connection.set_api_key(next.api_key.clone());
        }
        self.credentials = Some(next);
        self.next_probe = Instant::now();
    }

    async fn on_watch_ended(&mut self, reason: String) -> Result<(), Closed> {
        self.watch.ended(&reason, self.settings.recheck_interval);
        self.send(MonitorEvent::WatchEnded(reason)).await?;
        let change = self.health.suspect();
        if change.is_some() {
            self.next_probe = Instant::now();
        }
        self.send_change(change).await
    }

    /// Opens the health watch on the connection, where the credentials allow it (see
    /// [`HealthWatch::open`]).
    async fn open_watch(&mut self) -> Result<(), ProbeError> {
        match &self.connection {
            Some(connection) if self.prober.health_allowed() => {
                let timeout = self.settings.probe_timeout;
                self.watch.open(connection, timeout).await
            }
            _ => Ok(()),
        }
    }
}
