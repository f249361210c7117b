//! What one worker process holds and how it polls, as its endpoint sees the RPCs go by.
//!
//! A task is *held* from the moment it reaches the worker (a poll response with a task token,
//! an eager activity or a new workflow task in a `RespondWorkflowTaskCompleted` response, an
//! eager workflow task in a `StartWorkflowExecution` response) until Temporal has its answer
//! (the completion, failure or cancellation RPC by token, or by id for activities). An answer
//! that did not get through (Temporal unavailable, a deadline) leaves the task held: the SDK
//! retries it, and the retry counts. An answer Temporal refuses because the task is gone
//! (NotFound: it timed out, or another worker completed it) lets it go as well.
//!
//! Polls are counted from the moment they are forwarded until they end; one that Temporal has
//! accepted (it answered, or kept it open without an error for [`POLL_ACCEPTED_AFTER`]) proves
//! that the worker polls its queue.

mod held;
mod polls;
#[cfg(test)]
mod tests;

use tonic::Code;

pub use held::{ActivityKey, Answer, Task};
pub use polls::{Instance, POLL_ACCEPTED_AFTER, POLL_GAP, PollId, QueuePolling};

use crate::endpoint::metrics::{EndpointMetrics, TaskKind};
use held::Tasks;
use polls::Polls;

/// The counts of one drain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainTally {
    /// Held when the drain began.
    pub at_start: u64,
    /// Reached the worker during the drain (a poll that was already matched).
    pub arrived: u64,
    /// Answered during the drain.
    pub finished: u64,
}

/// What the worker process holds ([`held`]), how it polls ([`polls`]), and the drain's counts.
pub struct Ledger {
    tasks: Tasks,
    polls: Polls,
    drain: Option<DrainTally>,
    metrics: EndpointMetrics,
}

impl Ledger {
    pub fn new(metrics: EndpointMetrics) -> Ledger {
        Ledger {
            tasks: Tasks::new(metrics.clone()),
            polls: Polls::new(metrics.clone()),
            drain: None,
            metrics,
        }
    }

    /// A new worker process: nothing of the last one's counts any more.
    pub fn reset(&mut self) {
        let metrics = self.metrics.clone();
        for kind in TaskKind::ALL {
            metrics.set_in_flight(kind, 0);
            metrics.set_polls(kind, 0);
        }
        *self = Ledger::new(metrics);
    }

    /// The worker's last connection closed: its process is gone, and its polls and tasks with
    /// it (those tasks wait for their timeouts at Temporal).
    pub fn worker_gone(&mut self) {
        self.tasks.clear();
        self.polls.clear();
    }

    /// A task reached the worker.
    pub fn delivered(&mut self, task: Task) {
        if self.tasks.delivered(task)
            && let Some(tally) = &mut self.drain
        {
            tally.arrived += 1;
        }
    }

    /// Temporal answered `status` to an answer RPC for the task `token`.
    pub fn answered(&mut self, token: &[u8], answer: Answer, status: Code) {
        let settled = self.tasks.answered(token, answer, status);
        self.count_finished(settled);
    }

    /// As [`Ledger::answered`], for an activity named by its ids.
    pub fn answered_by_id(&mut self, key: &ActivityKey, answer: Answer, status: Code) {
        let settled = self.tasks.answered_by_id(key, answer, status);
        self.count_finished(settled);
    }

    fn count_finished(&mut self, settled: bool) {
        if settled && let Some(tally) = &mut self.drain {
            tally.finished += 1;
        }
    }

    /// Tasks held now.
    pub fn in_flight(&self) -> u64 {
        self.tasks.count()
    }

    /// Held tasks by kind, as the log says them ("2 activity, 1 workflow").
    pub fn in_flight_words(&self) -> String {
        self.tasks.words()
    }

    /// A poll of `instance` is forwarded (for its normal queue, also when it polls the sticky
    /// one).
    pub fn poll_started(
        &mut self,
        kind: TaskKind,
        instance: Instance,
        deployment: Option<(String, String)>,
    ) -> PollId {
        self.polls.started(kind, instance, deployment)
    }

    /// Temporal accepted the poll (it is open without an error, or it answered).
    pub fn poll_accepted(&mut self, id: PollId) {
        self.polls.accepted(id);
    }

    /// The poll ended: answered (`Ok`), or with this error.
    pub fn poll_ended(&mut self, id: PollId, result: Result<(), String>) {
        self.polls.ended(id, result);
    }

    /// Polls forwarded and not yet ended.
    pub fn polls_outstanding(&self) -> u64 {
        self.polls.outstanding()
    }

    /// Who polls `queue` with one of `kinds` now (see [`Polls::of_queue`]).
    pub fn polls_queue(
        &self,
        queue: &str,
        kinds: &[TaskKind],
        now: std::time::Instant,
        since: Option<std::time::Instant>,
    ) -> QueuePolling {
        self.polls.of_queue(queue, kinds, now, since)
    }

    /// The SDK workers of the process, as their polls said.
    pub fn instances(&self) -> Vec<Instance> {
        self.polls.instances()
    }

    /// Whether the worker ever sent a poll through the endpoint.
    pub fn ever_polled(&self) -> bool {
        self.polls.ever()
    }

    /// A drain begins: from now on answers and late arrivals are counted for it.
    pub fn begin_drain(&mut self) {
        self.drain = Some(DrainTally {
            at_start: self.in_flight(),
            ..DrainTally::default()
        });
    }

    /// The drain's counts so far.
    pub fn drain_tally(&self) -> Option<DrainTally> {
        self.drain
    }
}
