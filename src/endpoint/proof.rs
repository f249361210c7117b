//! The proof that a worker polls, from its endpoint: each configured task queue has a poll
//! that Temporal accepted, seen as it passes, with no request of the supervisor's own. A
//! worker that sends no poll through its endpoint (its address is written in its code) is
//! proven as before, by `DescribeTaskQueue` ([`PollerWatch`]); once that finds it polling while
//! its endpoint saw nothing, one warning says so.
//!
//! Reports go where the poller checks' go, as [`PollerReport`]s, so that judging them (a
//! worker that never polls is replaced after its deadline) stays the same whichever proves it.

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::config::{PollerSettings, QueueType};
use crate::endpoint::View;
use crate::endpoint::ledger::POLL_GAP;
use crate::endpoint::metrics::TaskKind;
use crate::task::AbortOnDrop;
use crate::temporal::poller_watch::{PollerEvent, PollerWatch};
use crate::temporal::pollers::{PollerCheck, PollerReport};
use crate::temporal::probe::ProbeError;

/// How often the endpoint's view is looked at (nothing leaves the process).
const LOOK: Duration = Duration::from_secs(1);
/// A worker that has sent no poll through its endpoint this long after its start is looked
/// for at Temporal instead.
pub const UNUSED_AFTER: Duration = Duration::from_secs(5);

/// Starts the server's check of a worker that does not use its endpoint, reporting to the
/// sender it is given.
pub type Fallback = Box<dyn FnOnce(mpsc::Sender<PollerEvent>) -> PollerWatch + Send>;

/// What proves that a worker polls: the server's check, or its endpoint's polls.
pub enum Proof {
    /// `DescribeTaskQueue`, on the monitor's connection.
    Server(PollerWatch),
    /// Its polls through its endpoint (and the server, should it not use the endpoint).
    Endpoint(ProofWatch),
}

impl Proof {
    /// From now on only polls after `since` (the moment Temporal was lost) count.
    pub fn count_polls_after(&self, since: SystemTime) {
        match self {
            Proof::Server(w) => w.count_polls_after(since),
            Proof::Endpoint(w) => w.count_polls_after(since),
        }
    }
}

/// Follows one worker process's polls through its endpoint in the background; stops when
/// dropped.
pub struct ProofWatch {
    _task: AbortOnDrop<()>,
    polled_after: watch::Sender<Option<SystemTime>>,
}

impl ProofWatch {
    /// `check` judges the pollers seen (see [`PollerCheck::for_endpoint`]); `fallback` starts
    /// the server's check should the worker not use its endpoint.
    pub fn start(
        view: View,
        (settings, check): (PollerSettings, PollerCheck),
        fallback: Fallback,
        (index, pid): (usize, i32),
        reports: mpsc::Sender<PollerEvent>,
    ) -> ProofWatch {
        let (polled_after, after) = watch::channel(None);
        let check = check.for_endpoint(&settings);
        let judge = Judge { settings, check };
        let task = AbortOnDrop::spawn(follow(view, judge, fallback, (index, pid), reports, after));
        ProofWatch {
            _task: task,
            polled_after,
        }
    }

    /// From now on only polls after `since` (the moment Temporal was lost) count.
    pub fn count_polls_after(&self, since: SystemTime) {
        self.polled_after.send_replace(Some(since));
    }
}

/// What the endpoint's polls are judged by.
struct Judge {
    settings: PollerSettings,
    check: PollerCheck,
}

async fn follow(
    view: View,
    judge: Judge,
    fallback: Fallback,
    (index, pid): (usize, i32),
    reports: mpsc::Sender<PollerEvent>,
    mut after: watch::Receiver<Option<SystemTime>>,
) {
    let mut follower = Follower {
        view,
        judge,
        started: Instant::now(),
        fallback: Some(fallback),
        server: None,
        said_direct: false,
        pid,
    };
    let mut last: Option<PollerReport> = None;
    let mut look = tokio::time::interval(LOOK);
    loop {
        let report = tokio::select! {
            _ = look.tick() => follower.look(*after.borrow()),
            Some((_, _, checked)) = next(&mut follower.server) => {
                follower.heard_server(&checked);
                if reports.send((index, pid, checked)).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(()) = after.changed() => {
                if let (Some((watch, _)), Some(since)) = (&follower.server, *after.borrow()) {
                    watch.count_polls_after(since);
                }
                last = None;
                continue;
            }
        };
        let Some(report) = report else { continue };
        // Sent when it changes, and every look while not polling (the deadline is judged on
        // reports).
        if last.as_ref() == Some(&report) && report.polling {
            continue;
        }
        last = Some(report.clone());
        if reports.send((index, pid, Ok(report))).await.is_err() {
            return;
        }
    }
}

/// What [`follow`] keeps between looks.
struct Follower {
    view: View,
    judge: Judge,
    started: Instant,
    /// Starts the server's check, until it is started.
    fallback: Option<Fallback>,
    /// The server's check, while the worker sends no poll through its endpoint.
    server: Option<(PollerWatch, mpsc::Receiver<PollerEvent>)>,
    /// The worker was said to poll Temporal directly.
    said_direct: bool,
    pid: i32,
}

impl Follower {
    /// A look at the endpoint (counting only polls after `after`, when given): its report, or
    /// none while the server's check reports instead.
    fn look(&mut self, after: Option<SystemTime>) -> Option<PollerReport> {
        if self.view.used() {
            self.server = None;
            Some(self.judge.report(&self.view, after.map(instant_of)))
        } else if self.server.is_some() {
            None
        } else if self.started.elapsed() >= UNUSED_AFTER {
            if let Some(start) = self.fallback.take() {
                let (tx, rx) = mpsc::channel(4);
                let watch = start(tx);
                if let Some(since) = after {
                    watch.count_polls_after(since);
                }
                self.server = Some((watch, rx));
            }
            None
        } else {
            Some(self.judge.not_yet(&self.view))
        }
    }

    /// The server's check reported: the first time it finds the worker polling, one warning
    /// says that it does so past its endpoint.
    fn heard_server(&mut self, checked: &Result<PollerReport, ProbeError>) {
        if let Ok(r) = checked
            && r.polling
            && !self.said_direct
        {
            self.said_direct = true;
            warn!(
                child_pid = self.pid,
                endpoint = %self.view.address(),
                "the worker polls Temporal directly, not through its endpoint \
                 (TEMPORAL_ADDRESS={}): it works as before, but it cannot be drained \
                 on stop; have it read the connection from Temporal's environment \
                 configuration",
                self.view.address()
            );
        }
    }
}

async fn next(
    server: &mut Option<(PollerWatch, mpsc::Receiver<PollerEvent>)>,
) -> Option<PollerEvent> {
    match server {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// An `Instant` for a moment of the wall clock (now, if it is in the future).
fn instant_of(t: SystemTime) -> Instant {
    let ago = SystemTime::now().duration_since(t).unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

fn kinds(t: QueueType) -> &'static [TaskKind] {
    match t {
        QueueType::Workflow => &[TaskKind::Workflow],
        QueueType::Activity => &[TaskKind::Activity],
        QueueType::Any => &TaskKind::ALL,
    }
}

impl Judge {
    /// What the endpoint saw, as a poller check reports it.
    fn report(&self, view: &View, since: Option<Instant>) -> PollerReport {
        if view.connections() == 0 {
            return PollerReport {
                polling: false,
                seen: 0,
                findings: vec![format!(
                    "no worker process is connected to its endpoint ({})",
                    view.address()
                )],
                fresh_for: None,
            };
        }
        let mut seen = 0;
        let mut findings = Vec::new();
        for queue in &self.settings.task_queues {
            let p = view.polling(queue, kinds(self.settings.task_queue_type), since);
            if p.polling() {
                let (counted, finding) = self.check.judge_now(queue, &p.live);
                seen += if counted > 0 { p.open.max(1) } else { 0 };
                findings.extend(finding);
                continue;
            }
            findings.push(match &p.error {
                Some(e) => format!("its polls of {queue} fail: {e}"),
                None if since.is_some() => {
                    format!("this worker has not polled {queue} since Temporal came back")
                }
                None => format!("this worker has sent no poll of {queue} through its endpoint yet"),
            });
        }
        let polling = findings.is_empty();
        PollerReport {
            polling,
            seen,
            findings,
            fresh_for: polling.then_some(POLL_GAP),
        }
    }

    /// Before the worker's first poll through the endpoint, or with no worker connected.
    fn not_yet(&self, view: &View) -> PollerReport {
        PollerReport {
            polling: false,
            seen: 0,
            findings: vec![format!(
                "this worker has sent no poll through its endpoint ({}) yet, of {}",
                view.address(),
                self.settings.task_queues.join(", ")
            )],
            fresh_for: None,
        }
    }
}
