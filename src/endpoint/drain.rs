//! A drain: the worker takes no new work, finishes what it holds, and its sticky queue is
//! released, before the supervisor sends it the stop signal.
//!
//! 1. New polls are held (answered empty at their deadline) and no eager work is requested.
//! 2. The polls already open are ended without losing a task: where the namespace advertises
//!    `worker_poll_complete_on_shutdown`, `ShutdownWorker` (each SDK worker's instance key and
//!    queue, as the SDKs call it) has Temporal complete them empty at once. Elsewhere they are
//!    left to end by themselves for `drain_poll_wait`, again after each task the worker
//!    finishes (on a busy queue they end with tasks soon, which the worker then finishes; the
//!    workflow task that follows an activity comes at once); the ones still open after that
//!    end with the worker's stop, as the SDKs end theirs without that capability. A poll the endpoint
//!    cancels could lose a task Temporal matched to it in that instant (it would wait for its
//!    timeout; the window is measured in docs/operations.md): on an idle queue there is no
//!    task to lose, on a busy one no poll stays open. A task that still arrives reaches the
//!    worker and is counted.
//! 3. It waits until nothing is held and no poll is open (or only polls past their wait), or
//!    the deadline, or a second stop signal.
//! 4. `ShutdownWorker` with the sticky queue, first thing and again at the end: the workflows
//!    cached by the worker move to the others at once instead of after the sticky
//!    schedule-to-start timeout, and Temporal ends the polls waiting on it.
//! 5. The held polls are answered with no task, for the SDKs that wait for their polls when
//!    they shut down on the stop signal that follows.

use std::sync::Arc;
use std::time::Duration;

use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, ShutdownWorkerRequest,
};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tracing::{info, warn};

use crate::duration;
use crate::endpoint::ledger::{DrainTally, Instance};
use crate::endpoint::metrics::{DrainEnd, TaskKind};
use crate::endpoint::shared::{Phase, Shared};

/// How long the endpoint's own calls to Temporal may take during a drain.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const REASON: &str = "graceful shutdown by temporal-supervisor";

/// How a drain went.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainReport {
    pub end: DrainEnd,
    pub tally: DrainTally,
    /// Tasks still held at its end: abandoned once the worker stops.
    pub left: u64,
    /// The same, by kind, in words.
    pub left_words: String,
    /// Polls still open at Temporal at its end (they end with the worker).
    pub polls_open: u64,
    pub took: Duration,
}

/// How the polls open when a drain begins are to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenPolls {
    /// None is open.
    None,
    /// Temporal completes them on `ShutdownWorker`: the namespace can.
    CompletedByTemporal,
    /// They are left this long to end by themselves, again after each task the worker
    /// finishes.
    LeftToEnd(Duration),
}

impl OpenPolls {
    /// Until when the polls may stay open, waiting from `from`.
    fn wait_until(self, from: Instant, deadline: Instant) -> Instant {
        match self {
            OpenPolls::None | OpenPolls::CompletedByTemporal => deadline,
            OpenPolls::LeftToEnd(wait) => (from + wait).min(deadline),
        }
    }

    /// As the log says it.
    fn words(self) -> String {
        match self {
            OpenPolls::None => "no poll open".into(),
            OpenPolls::CompletedByTemporal => {
                "open polls completed by Temporal (ShutdownWorker)".into()
            }
            OpenPolls::LeftToEnd(wait) => format!(
                "open polls left {} to end by themselves (the namespace cannot complete them)",
                duration::format(wait)
            ),
        }
    }
}

/// Drains the worker behind `shared` until `deadline`, letting open polls that Temporal cannot
/// complete end by themselves for `poll_wait`; `skip` turning true cuts it short.
pub async fn drain(
    shared: Arc<Shared>,
    namespace: String,
    (deadline, poll_wait): (Instant, Duration),
    mut skip: watch::Receiver<bool>,
) -> DrainReport {
    let started = Instant::now();
    let open = begin(&shared, &namespace, (started, deadline), poll_wait).await;
    let end = wait(&shared, open, (started, deadline), &mut skip).await;
    // Once more, for a sticky queue first polled during the drain.
    shutdown_workers(&shared, &shared.read_ledger(|l| l.instances())).await;
    // The stop signal follows: an SDK that waits for its polls on shutdown gets them back.
    shared.set_phase(Phase::Released);
    let (tally, left, left_words, polls_open) = shared.read_ledger(|l| {
        (
            l.drain_tally().unwrap_or_default(),
            l.in_flight(),
            l.in_flight_words(),
            l.polls_outstanding(),
        )
    });
    shared.metrics().drained(end, tally.finished, left);
    DrainReport {
        end,
        tally,
        left,
        left_words,
        polls_open,
        took: started.elapsed(),
    }
}

/// Holds new polls, releases the sticky queues and has Temporal complete the open polls where
/// it can; returns how the open polls are to end.
async fn begin(
    shared: &Shared,
    namespace: &str,
    (started, deadline): (Instant, Instant),
    poll_wait: Duration,
) -> OpenPolls {
    shared.set_phase(Phase::Draining);
    let (instances, words, polls) = shared.with_ledger(|l| {
        l.begin_drain();
        (l.instances(), l.in_flight_words(), l.polls_outstanding())
    });
    let capable = polls > 0 && completes_polls(shared, namespace, &instances).await;
    // One ShutdownWorker per SDK worker, first thing: its sticky queue released (workflow
    // tasks for what it caches go to the others at once, not after the queue's
    // schedule-to-start timeout; Temporal ends the polls waiting on it), and, where the
    // namespace can, its other open polls completed.
    shutdown_workers(shared, &instances).await;
    let open = match (polls, capable) {
        (0, _) => OpenPolls::None,
        (_, true) => OpenPolls::CompletedByTemporal,
        (_, false) => OpenPolls::LeftToEnd(poll_wait),
    };
    info!(
        worker = %shared.label,
        in_flight = %words,
        deadline = %duration::format(deadline.saturating_duration_since(started)),
        "draining: {words} in flight; new polls held, {}",
        open.words()
    );
    open
}

/// Waits until nothing is held and no poll is open (or only polls past their wait), the
/// deadline, or `skip`.
async fn wait(
    shared: &Shared,
    open: OpenPolls,
    (started, deadline): (Instant, Instant),
    skip: &mut watch::Receiver<bool>,
) -> DrainEnd {
    let mut polls_by = open.wait_until(started, deadline);
    let mut finished = 0;
    loop {
        let changed = shared.changed();
        // Open polls may bring the next task of what the worker just finished (the workflow
        // task after an activity comes at once, on its sticky queue): they get their wait
        // again after each answer.
        let now_finished = shared.read_ledger(|l| l.drain_tally().map_or(0, |t| t.finished));
        if now_finished > finished && polls_by < deadline {
            finished = now_finished;
            polls_by = open.wait_until(Instant::now(), deadline);
        }
        let polls_over = Instant::now() >= polls_by;
        if shared.read_ledger(|l| l.in_flight() == 0 && (polls_over || l.polls_outstanding() == 0))
        {
            return DrainEnd::Completed;
        }
        tokio::select! {
            () = changed => {}
            () = sleep_until(polls_by), if !polls_over => {}
            () = sleep_until(deadline) => return DrainEnd::Deadline,
            Ok(_) = skip.wait_for(|s| *s) => return DrainEnd::Skipped,
        }
    }
}

/// `ShutdownWorker` for each SDK worker: its sticky queue released, its waiting polls ended
/// empty by Temporal (all of them where the namespace can, else those on the sticky queue).
async fn shutdown_workers(shared: &Shared, instances: &[Instance]) {
    for instance in instances {
        let sticky = instance.sticky_queue.as_deref().unwrap_or_default();
        let request = shutdown_request(instance, sticky);
        if let Err(e) = call(shared.upstream.client().shutdown_worker(request)).await {
            warn!(worker = %shared.label, "ShutdownWorker failed: {e}");
        }
    }
}

/// Whether Temporal completes the open polls of every SDK worker on `ShutdownWorker`: the
/// namespace advertises it, and each sends its instance key.
async fn completes_polls(shared: &Shared, configured: &str, instances: &[Instance]) -> bool {
    if instances.is_empty() || instances.iter().any(|i| i.key.is_empty()) {
        return false;
    }
    let namespace = instances
        .iter()
        .map(|i| i.namespace.as_str())
        .find(|n| !n.is_empty())
        .unwrap_or(configured);
    let describe = DescribeNamespaceRequest {
        namespace: namespace.to_string(),
        ..Default::default()
    };
    match call(shared.upstream.client().describe_namespace(describe)).await {
        Ok(r) => r
            .into_inner()
            .namespace_info
            .and_then(|i| i.capabilities)
            .is_some_and(|c| c.worker_poll_complete_on_shutdown),
        Err(e) => {
            warn!(worker = %shared.label, "cannot read the namespace's capabilities: {e}");
            false
        }
    }
}

/// `ShutdownWorker` for one SDK worker: its polls of every type (Temporal's default leaves
/// Nexus out), and its sticky queue when given.
fn shutdown_request(instance: &Instance, sticky: &str) -> ShutdownWorkerRequest {
    ShutdownWorkerRequest {
        namespace: instance.namespace.clone(),
        sticky_task_queue: sticky.to_string(),
        identity: instance.identity.clone(),
        reason: REASON.into(),
        worker_instance_key: instance.key.clone(),
        task_queue: instance.queue.clone(),
        task_queue_types: TaskKind::ALL.iter().map(|k| k.queue_type()).collect(),
        ..Default::default()
    }
}

/// One call of the endpoint's own, bounded.
async fn call<T>(future: impl Future<Output = Result<T, tonic::Status>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Err(_) => Err(format!(
            "no answer within {}",
            duration::format(CALL_TIMEOUT)
        )),
    }
}
