//! Temporal as the commands that stay (`run`, `watch`) follow it: a wait that can start again,
//! the monitor once Temporal is ready, and what both record for the endpoints and metrics.
//! Their reports come out as one stream of [`TemporalEvent`]s.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use temporalio_client::Connection;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::config::{MonitorSettings, WaitSettings};
use crate::logging;
use crate::serve::status::Status;
use crate::temporal::gate::{self, GaveUp};
use crate::temporal::monitor::{Monitor, MonitorEvent};
use crate::temporal::probe::{ProbeError, Prober, Ready, Stage};

type WaitFuture = Pin<Box<dyn Future<Output = Result<Ready, GaveUp>>>>;

/// What happened to Temporal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalEvent {
    /// The wait found it ready; the monitor watches it from now on.
    Ready,
    /// The wait ran out of attempts or time.
    GaveUp,
    /// The monitor doubts it: its health watch ended or a probe failed. Probes follow, which
    /// confirm it or find it lost.
    Suspect,
    /// A probe started at `since` found it well.
    Confirmed { since: Instant },
    /// The monitor lost it.
    Lost,
    /// The monitor saw it come back (only while it goes on watching after a loss).
    Back,
}

/// The wait or the monitor, whichever runs, and the connection the monitor publishes while
/// Temporal is well (`None` otherwise), for the poller checks.
pub struct Watcher {
    prober: Prober,
    settings: MonitorSettings,
    status: Status,
    wait: Option<WaitFuture>,
    monitor: Option<Monitor>,
    well: watch::Sender<Option<Connection>>,
}

impl Watcher {
    pub fn new(prober: Prober, settings: MonitorSettings, status: Status) -> Watcher {
        Watcher {
            prober,
            settings,
            status,
            wait: None,
            monitor: None,
            well: watch::channel(None).0,
        }
    }

    /// The connection while Temporal is well.
    pub fn well(&self) -> watch::Receiver<Option<Connection>> {
        self.well.subscribe()
    }

    /// Stops watching and waits for Temporal (again) with these limits.
    pub fn wait(&mut self, wait: WaitSettings) {
        self.stop_watching();
        let (prober, status) = (self.prober.clone(), self.status.clone());
        status.set_temporal_up(false);
        self.wait = Some(Box::pin(async move {
            let mut attempted = |result: Result<Duration, &ProbeError>| {
                status.metrics.wait_attempts.inc();
                status.probed(result);
            };
            gate::wait_until_ready(&prober, &wait, &mut attempted).await
        }));
    }

    /// Asks the monitor for a probe at once (see [`Monitor::check`]); nothing while it does
    /// not watch, as the wait is looking for Temporal then.
    pub fn check(&self) {
        if let Some(monitor) = &self.monitor {
            monitor.check();
        }
    }

    /// Stops the monitor (the wait is not touched).
    pub fn stop_watching(&mut self) {
        self.monitor = None;
        self.well.send_replace(None);
    }

    /// The next event; probes are recorded and logged on the way.
    pub async fn next(&mut self) -> TemporalEvent {
        loop {
            tokio::select! {
                result = finish(&mut self.wait) => return match result {
                    Ok(ready) => {
                        self.monitor = Some(Monitor::start(
                            self.prober.clone(),
                            self.settings.clone(),
                            Some(ready.connection),
                            self.well.clone(),
                        ));
                        TemporalEvent::Ready
                    }
                    Err(GaveUp) => TemporalEvent::GaveUp,
                },
                Some(event) = next_event(&mut self.monitor) => match event {
                    MonitorEvent::Suspect => return TemporalEvent::Suspect,
                    MonitorEvent::Confirmed { since } => {
                        return TemporalEvent::Confirmed { since };
                    }
                    MonitorEvent::Lost => return TemporalEvent::Lost,
                    MonitorEvent::Back => return TemporalEvent::Back,
                    MonitorEvent::WatchEnded(reason) => {
                        info!("health watch ended ({reason}); probing to confirm");
                    }
                    MonitorEvent::Probe { result, failures } => {
                        self.record_probe(result, failures);
                    }
                },
            }
        }
    }

    /// Logs a probe's result while watching and records it for the endpoints and metrics.
    fn record_probe(&self, result: Result<Duration, ProbeError>, failures: u32) {
        self.status.probed(result.as_ref().copied());
        match result {
            Ok(latency) => {
                debug!(latency = %crate::duration::format(latency), "probe succeeded");
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
                    failure_threshold = self.settings.failure_threshold,
                    "probe failed"
                );
            }
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
