//! Drains under `watch`: asked for on `/drain` by a worker container's `preStop` hook (the
//! kubelet's `httpGet`), or begun by the sidecar's own SIGTERM; answered once every drain asked
//! for is over.
//!
//! Who can ask: anyone who reaches the health port, as the kubelet must (it connects from the
//! node, not from loopback, so the port cannot be loopback-only). What a drain costs when no
//! stop follows is bounded: its worker takes no new work until its connections close, or, at
//! the latest, until the drain's worker stop timeout after its end, when the drain is called
//! off and the worker takes work again. A drain never stops or signals anything itself.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::StatusCode;
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::duration;
use crate::endpoint::{DrainEnd, DrainReport};
use crate::serve::health::DrainAsk;
use crate::serve::status::{RunState, Status, WorkerState};
use crate::watch::watched::Watched;

/// While the sidecar ends, how often it looks whether its workers' connections are gone.
const ENDING_LOOK: Duration = Duration::from_millis(100);

type Reply = oneshot::Sender<(StatusCode, String)>;

pub struct DrainBook {
    done: mpsc::Sender<(usize, DrainReport)>,
    /// Asks waiting for their drains: the workers each waits for.
    waiting: Vec<(Vec<usize>, Reply)>,
    /// The last drain report of each worker.
    reports: BTreeMap<usize, DrainReport>,
    /// Drains over and not followed by the worker's stop: called off at that moment.
    resume_at: BTreeMap<usize, Instant>,
    /// The sidecar is ending (SIGTERM), until this moment at the latest.
    ending: Option<Instant>,
}

impl DrainBook {
    pub fn new(done: mpsc::Sender<(usize, DrainReport)>) -> DrainBook {
        DrainBook {
            done,
            waiting: Vec::new(),
            reports: BTreeMap::new(),
            resume_at: BTreeMap::new(),
            ending: None,
        }
    }

    /// Whether a drain is under way or over.
    pub fn draining(&self) -> bool {
        self.ending.is_some() || !self.waiting.is_empty() || !self.resume_at.is_empty()
    }

    /// `/drain`: drains the workers asked for (every one with an endpoint, or the one named)
    /// that are not drained yet; answers once all of them are.
    pub fn ask(&mut self, ask: DrainAsk, workers: &mut [Watched], status: &Status) {
        let targets: Vec<usize> = workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.endpoint.is_some())
            .filter(|(_, w)| ask.worker.as_ref().is_none_or(|name| *name == w.name))
            .map(|(i, _)| i)
            .collect();
        if targets.is_empty() {
            let body =
                json!({"error": "no worker with an endpoint of that name", "worker": ask.worker});
            let _ = ask.reply.send((StatusCode::NOT_FOUND, format!("{body}\n")));
            return;
        }
        for &i in &targets {
            self.begin(i, workers, status, "asked on /drain");
        }
        self.waiting.push((targets, ask.reply));
        self.answer_ready(workers);
    }

    /// Starts the drain of worker `i` unless it is drained or draining already.
    fn begin(&mut self, i: usize, workers: &mut [Watched], status: &Status, why: &str) {
        let w = &mut workers[i];
        let Some(endpoint) = &w.endpoint else { return };
        if w.drain.is_some() || w.drained {
            return;
        }
        let deadline = Instant::now() + w.stop_timeout.saturating_sub(w.stop_grace);
        w.drain = Some(endpoint.drain((deadline, w.drain_poll_wait), i, self.done.clone()));
        self.reports.remove(&i);
        self.resume_at.remove(&i);
        status.set_worker_state(i, WorkerState::Draining);
        status.set_state(RunState::Draining);
        info!(
            worker = %w.name,
            deadline = %duration::format(deadline - Instant::now()),
            "{why}: draining the worker: no new work, the work it holds finished"
        );
    }

    /// A worker's drain is over; returns whether `watch` may end now.
    pub fn drained(&mut self, i: usize, report: DrainReport, workers: &mut [Watched]) -> bool {
        let w = &mut workers[i];
        w.drain = None;
        w.drained = true;
        let said = format!("{} finished, {} left", report.tally.finished, report.left);
        match report.end {
            DrainEnd::Completed => {
                info!(worker = %w.name, "drain completed in {}: {said}", duration::format(report.took))
            }
            _ => {
                warn!(worker = %w.name, "drain ended after {}: {said} ({} abandoned)", duration::format(report.took), report.left_words)
            }
        }
        self.resume_at.insert(i, Instant::now() + w.stop_timeout);
        self.reports.insert(i, report);
        self.answer_ready(workers);
        self.ending.is_some() && self.all_gone(workers)
    }

    /// Replies to every ask whose drains are all over.
    fn answer_ready(&mut self, workers: &[Watched]) {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(targets, _)| targets.iter().all(|i| self.reports.contains_key(i)));
        self.waiting = waiting;
        for (targets, reply) in ready {
            let drained: Vec<_> = targets
                .iter()
                .map(|i| {
                    let r = &self.reports[i];
                    json!({
                        "worker": workers[*i].name,
                        "outcome": r.end.name(),
                        "finished": r.tally.finished,
                        "abandoned": r.left,
                        "took_ms": r.took.as_millis() as u64,
                    })
                })
                .collect();
            let body = json!({"status": "drained", "workers": drained});
            let _ = reply.send((StatusCode::OK, format!("{body}\n")));
        }
    }

    /// SIGTERM or SIGINT: the first drains every worker not drained yet, and `watch` ends once
    /// their connections are gone (or at the stop timeout); a second ends it at once. Returns
    /// whether to end now.
    pub fn end(&mut self, signal: Signal, workers: &mut [Watched], status: &Status) -> bool {
        if self.ending.is_some() {
            info!("{} received again; exiting", signal.as_str());
            return true;
        }
        let longest = workers
            .iter()
            .map(|w| w.stop_timeout)
            .max()
            .unwrap_or_default();
        self.ending = Some(Instant::now() + longest);
        info!(
            "{} received: draining the workers, then exiting once they are gone (within {})",
            signal.as_str(),
            duration::format(longest)
        );
        for i in 0..workers.len() {
            self.begin(i, workers, status, signal.as_str());
        }
        self.all_gone(workers)
    }

    /// No drain under way, and no worker connected.
    fn all_gone(&self, workers: &[Watched]) -> bool {
        workers
            .iter()
            .all(|w| w.drain.is_none() && w.endpoint.as_ref().is_none_or(|e| e.connections() == 0))
    }

    /// When the book has something to do next.
    pub async fn next_timer(&self) {
        let at = match self.ending {
            Some(_) => Some(Instant::now() + ENDING_LOOK),
            None => self.resume_at.values().min().copied(),
        };
        match at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// Calls off drains that no stop followed; while ending, returns whether to end now.
    pub fn on_timer(&mut self, workers: &mut [Watched], status: &Status) -> bool {
        if let Some(deadline) = self.ending {
            if Instant::now() >= deadline {
                warn!("the workers' connections outlived the stop timeout; exiting");
                return true;
            }
            return self.all_gone(workers);
        }
        let now = Instant::now();
        let due: Vec<usize> = self
            .resume_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(i, _)| *i)
            .collect();
        for i in due {
            self.resume_at.remove(&i);
            let w = &mut workers[i];
            w.drained = false;
            if let Some(endpoint) = &w.endpoint {
                endpoint.resume();
            }
            status.set_worker_state(i, WorkerState::Watched);
            warn!(
                worker = %w.name,
                "no stop followed the drain within {}: the worker takes work again",
                duration::format(w.stop_timeout)
            );
        }
        if !self.draining() {
            status.set_state(RunState::Running);
        }
        false
    }
}
