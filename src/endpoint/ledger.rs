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

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::Code;

use crate::endpoint::metrics::{EndpointMetrics, TaskKind, Via};

/// A poll Temporal kept open this long without an error was accepted: the frontend refuses a
/// bad namespace, queue or credential at once.
pub const POLL_ACCEPTED_AFTER: Duration = Duration::from_millis(300);
/// A queue counts as polled for this long after its last accepted poll ended (the SDKs poll
/// again at once; during an outage their polls fail instead).
pub const POLL_GAP: Duration = Duration::from_secs(5);
/// At most this many tasks are tracked; past it the oldest is forgotten (and said once).
const MOST_HELD: usize = 100_000;

/// A task that reaches the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub token: Bytes,
    pub kind: TaskKind,
    /// For an activity: what a `...ById` answer names it by.
    pub activity: Option<ActivityKey>,
    pub via: Via,
}

/// An activity as the `...ById` answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityKey {
    pub workflow_id: String,
    pub activity_id: String,
}

#[derive(Debug)]
struct Held {
    kind: TaskKind,
    activity: Option<ActivityKey>,
    since: Instant,
}

/// How an answer RPC went, for the task it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Completed,
    Failed,
}

/// Who polls: the poll's identity, and the `(deployment name, build ID)` it carries.
pub type Poller = (String, Option<(String, String)>);

/// One poll forwarded to Temporal and not yet ended.
#[derive(Debug)]
struct Poll {
    queue: String,
    kind: TaskKind,
    poller: Poller,
    accepted: bool,
    started: Instant,
}

/// What is known of one queue and kind the worker polls.
#[derive(Debug, Default)]
struct QueueSeen {
    /// When an accepted poll last ended (or was accepted), and whose it was.
    last_accepted: Option<(Instant, Poller)>,
    /// Why its last poll failed, while none is accepted.
    error: Option<String>,
}

/// One SDK worker of the process, as its polls name it (a process may run several, one per
/// task queue): what `ShutdownWorker` names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instance {
    pub namespace: String,
    pub identity: String,
    /// Sent by the SDKs with every poll (empty from older ones); `ShutdownWorker` ends exactly
    /// this worker's polls with it.
    pub key: String,
    /// The normal queue it polls.
    pub queue: String,
    /// Its sticky queue, once it polls one.
    pub sticky_queue: Option<String>,
}

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

/// The poll identifier handed out by [`Ledger::poll_started`].
pub type PollId = u64;

pub struct Ledger {
    held: HashMap<Bytes, Held>,
    activities: HashMap<ActivityKey, Bytes>,
    polls: HashMap<PollId, Poll>,
    next_poll: PollId,
    queues: BTreeMap<(String, TaskKind), QueueSeen>,
    /// By instance key.
    instances: BTreeMap<String, Instance>,
    drain: Option<DrainTally>,
    metrics: EndpointMetrics,
    forgot: bool,
}

impl Ledger {
    pub fn new(metrics: EndpointMetrics) -> Ledger {
        Ledger {
            held: HashMap::new(),
            activities: HashMap::new(),
            polls: HashMap::new(),
            next_poll: 0,
            queues: BTreeMap::new(),
            instances: BTreeMap::new(),
            drain: None,
            metrics,
            forgot: false,
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
        self.held.clear();
        self.activities.clear();
        self.polls.clear();
        for kind in TaskKind::ALL {
            self.metrics.set_in_flight(kind, 0);
            self.metrics.set_polls(kind, 0);
        }
    }

    /// A task reached the worker.
    pub fn delivered(&mut self, task: Task) {
        let Task {
            token,
            kind,
            activity,
            via,
        } = task;
        if token.is_empty() {
            return;
        }
        if self.held.len() >= MOST_HELD {
            self.forget_oldest();
        }
        if let Some(key) = &activity {
            self.activities.insert(key.clone(), token.clone());
        }
        let held = Held {
            kind,
            activity,
            since: Instant::now(),
        };
        if self.held.insert(token, held).is_none() {
            self.metrics.delivered(kind, via);
            if let Some(tally) = &mut self.drain {
                tally.arrived += 1;
            }
        }
        self.update_in_flight(kind);
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .held
            .iter()
            .min_by_key(|(_, h)| h.since)
            .map(|(t, _)| t.clone());
        if let Some(token) = oldest {
            self.release(&token);
        }
        if !self.forgot {
            self.forgot = true;
            tracing::warn!(
                "the worker holds over {MOST_HELD} tasks; the oldest are no longer tracked"
            );
        }
    }

    /// Temporal answered `status` to an answer RPC for the task `token`.
    pub fn answered(&mut self, token: &[u8], answer: Answer, status: Code) {
        if !settles(status) {
            return;
        }
        if let Some(kind) = self.release(token) {
            match (answer, status) {
                (Answer::Completed, Code::Ok) => self.metrics.completed(kind),
                _ => self.metrics.failed(kind),
            }
            if let Some(tally) = &mut self.drain {
                tally.finished += 1;
            }
        }
    }

    /// As [`Ledger::answered`], for an activity named by its ids.
    pub fn answered_by_id(&mut self, key: &ActivityKey, answer: Answer, status: Code) {
        if let Some(token) = self.activities.get(key).cloned() {
            self.answered(&token, answer, status);
        }
    }

    fn release(&mut self, token: &[u8]) -> Option<TaskKind> {
        let held = self.held.remove(token)?;
        if let Some(key) = &held.activity {
            self.activities.remove(key);
        }
        self.update_in_flight(held.kind);
        Some(held.kind)
    }

    fn update_in_flight(&self, kind: TaskKind) {
        let n = self.held.values().filter(|h| h.kind == kind).count();
        self.metrics.set_in_flight(kind, n as i64);
    }

    /// Tasks held now.
    pub fn in_flight(&self) -> u64 {
        self.held.len() as u64
    }

    /// Held tasks by kind, as the log says them ("2 activity, 1 workflow").
    pub fn in_flight_words(&self) -> String {
        let words: Vec<String> = TaskKind::ALL
            .iter()
            .filter_map(|&kind| {
                let n = self.held.values().filter(|h| h.kind == kind).count();
                (n > 0).then(|| format!("{n} {}", kind.name()))
            })
            .collect();
        if words.is_empty() {
            "no task".into()
        } else {
            words.join(", ")
        }
    }

    /// A poll of `instance` is forwarded (for its normal queue, also when it polls the sticky
    /// one).
    pub fn poll_started(
        &mut self,
        kind: TaskKind,
        instance: Instance,
        deployment: Option<(String, String)>,
    ) -> PollId {
        let queue = instance.queue.clone();
        let poller = (instance.identity.clone(), deployment);
        self.remember(instance);
        let id = self.next_poll;
        self.next_poll += 1;
        let poll = Poll {
            queue,
            kind,
            poller,
            accepted: false,
            started: Instant::now(),
        };
        self.polls.insert(id, poll);
        self.update_polls(kind);
        id
    }

    fn remember(&mut self, seen: Instance) {
        let known = self.instances.entry(seen.key.clone()).or_default();
        let sticky = seen.sticky_queue.clone().or(known.sticky_queue.take());
        *known = Instance {
            sticky_queue: sticky,
            ..seen
        };
    }

    /// Temporal accepted the poll (it is open without an error, or it answered).
    pub fn poll_accepted(&mut self, id: PollId) {
        if let Some(poll) = self.polls.get_mut(&id) {
            poll.accepted = true;
            let seen = self
                .queues
                .entry((poll.queue.clone(), poll.kind))
                .or_default();
            seen.last_accepted = Some((Instant::now(), poll.poller.clone()));
            seen.error = None;
        }
    }

    /// The poll ended: answered (`Ok`), or with this error.
    pub fn poll_ended(&mut self, id: PollId, result: Result<(), String>) {
        let Some(poll) = self.polls.remove(&id) else {
            return;
        };
        let seen = self.queues.entry((poll.queue, poll.kind)).or_default();
        match result {
            Ok(()) => {
                seen.last_accepted = Some((Instant::now(), poll.poller));
                seen.error = None;
            }
            Err(e) if !poll.accepted => seen.error = Some(e),
            Err(_) => {}
        }
        self.update_polls(poll.kind);
    }

    fn update_polls(&self, kind: TaskKind) {
        let n = self.polls.values().filter(|p| p.kind == kind).count();
        self.metrics.set_polls(kind, n as i64);
    }

    /// Polls forwarded and not yet ended.
    pub fn polls_outstanding(&self) -> u64 {
        self.polls.len() as u64
    }

    /// Who polls `queue` with one of `kinds` now: accepted polls open, and the last one that
    /// ended within [`POLL_GAP`], of those begun after `since` (when given); with the number of
    /// accepted polls open, and why the last poll failed when none is accepted.
    pub fn polls_queue(
        &self,
        queue: &str,
        kinds: &[TaskKind],
        now: Instant,
        since: Option<Instant>,
    ) -> QueuePolling {
        let after = |t: Instant| since.is_none_or(|s| t >= s);
        let open: Vec<&Poll> = self
            .polls
            .values()
            .filter(|p| p.accepted && p.queue == queue && kinds.contains(&p.kind))
            .filter(|p| after(p.started))
            .collect();
        let mut live: Vec<Poller> = open.iter().map(|p| p.poller.clone()).collect();
        let mut error = None;
        for &kind in kinds {
            if let Some(seen) = self.queues.get(&(queue.to_string(), kind)) {
                if let Some((t, poller)) = &seen.last_accepted
                    && after(*t)
                    && now.saturating_duration_since(*t) < POLL_GAP
                {
                    live.push(poller.clone());
                }
                error = error.or(seen.error.clone());
            }
        }
        live.sort();
        live.dedup();
        QueuePolling {
            live,
            open: open.len() as u64,
            error,
        }
    }

    /// The SDK workers of the process, as their polls said.
    pub fn instances(&self) -> Vec<Instance> {
        self.instances.values().cloned().collect()
    }

    /// Whether the worker ever sent a poll through the endpoint.
    pub fn ever_polled(&self) -> bool {
        self.next_poll > 0
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

/// What [`Ledger::polls_queue`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePolling {
    /// Who polls now (none: the worker does not).
    pub live: Vec<Poller>,
    pub open: u64,
    pub error: Option<String>,
}

impl QueuePolling {
    pub fn polling(&self) -> bool {
        !self.live.is_empty()
    }
}

/// Whether Temporal's answer settles the task: it took the answer, or the task is gone. Any
/// other status (unavailable, deadline, cancelled, rate limits) leaves it to the SDK's retry.
fn settles(status: Code) -> bool {
    matches!(
        status,
        Code::Ok | Code::NotFound | Code::InvalidArgument | Code::FailedPrecondition
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> Ledger {
        Ledger::new(EndpointMetrics::default())
    }

    fn task(token: &'static [u8], kind: TaskKind, activity: Option<ActivityKey>) -> Task {
        Task {
            token: Bytes::from_static(token),
            kind,
            activity,
            via: Via::Poll,
        }
    }

    fn instance(sticky: Option<&str>) -> Instance {
        Instance {
            namespace: "default".into(),
            identity: "1@host".into(),
            key: "key".into(),
            queue: "q".into(),
            sticky_queue: sticky.map(str::to_string),
        }
    }

    #[test]
    fn a_task_is_held_until_temporal_takes_its_answer() {
        let mut l = ledger();
        l.delivered(task(b"a", TaskKind::Activity, None));
        l.delivered(task(b"w", TaskKind::Workflow, None));
        l.delivered(task(b"", TaskKind::Workflow, None));
        assert_eq!(l.in_flight(), 2);
        assert_eq!(l.in_flight_words(), "1 workflow, 1 activity");
        // Temporal unreachable: the SDK will retry, the task is still held.
        l.answered(b"a", Answer::Completed, Code::Unavailable);
        assert_eq!(l.in_flight(), 2);
        l.answered(b"a", Answer::Completed, Code::Ok);
        // The task had timed out: it is gone as well.
        l.answered(b"w", Answer::Completed, Code::NotFound);
        assert_eq!(l.in_flight(), 0);
        assert_eq!(l.in_flight_words(), "no task");
    }

    #[test]
    fn an_activity_answered_by_id_is_let_go() {
        let mut l = ledger();
        let key = ActivityKey {
            workflow_id: "wf".into(),
            activity_id: "1".into(),
        };
        l.delivered(task(b"t", TaskKind::Activity, Some(key.clone())));
        l.answered_by_id(&key, Answer::Failed, Code::Ok);
        assert_eq!(l.in_flight(), 0);
        assert!(l.activities.is_empty());
    }

    #[test]
    fn a_drain_counts_what_was_held_what_arrived_and_what_finished() {
        let mut l = ledger();
        l.delivered(task(b"1", TaskKind::Activity, None));
        l.delivered(task(b"2", TaskKind::Activity, None));
        l.begin_drain();
        l.delivered(task(b"3", TaskKind::Workflow, None));
        l.answered(b"1", Answer::Completed, Code::Ok);
        l.answered(b"3", Answer::Completed, Code::Ok);
        let tally = l.drain_tally().unwrap();
        assert_eq!(
            tally,
            DrainTally {
                at_start: 2,
                arrived: 1,
                finished: 2
            }
        );
        assert_eq!(l.in_flight(), 1);
    }

    #[test]
    fn a_queue_is_polled_while_an_accepted_poll_is_open_and_shortly_after() {
        let mut l = ledger();
        let kinds = [TaskKind::Workflow, TaskKind::Activity];
        let before = Instant::now();
        let id = l.poll_started(TaskKind::Workflow, instance(None), None);
        assert!(!l.polls_queue("q", &kinds, before, None).polling());
        l.poll_accepted(id);
        let p = l.polls_queue("q", &kinds, Instant::now(), None);
        assert!(p.polling());
        assert_eq!(p.open, 1);
        // Only polls since a moment count, when asked: this one began before.
        let later = Instant::now() + Duration::from_millis(1);
        assert!(!l.polls_queue("q", &kinds, later, Some(later)).polling());
        l.poll_ended(id, Ok(()));
        assert!(
            l.polls_queue("q", &kinds, Instant::now(), Some(before))
                .polling()
        );
        assert!(
            !l.polls_queue("q", &kinds, Instant::now() + POLL_GAP, None)
                .polling()
        );
        // Only the kinds asked for count.
        assert!(
            !l.polls_queue("q", &[TaskKind::Activity], Instant::now(), None)
                .polling()
        );
    }

    #[test]
    fn a_refused_poll_says_why() {
        let mut l = ledger();
        let id = l.poll_started(TaskKind::Activity, instance(None), None);
        l.poll_ended(id, Err("NotFound: namespace x not found".into()));
        let p = l.polls_queue("q", &[TaskKind::Activity], Instant::now(), None);
        assert!(!p.polling());
        assert_eq!(p.error.as_deref(), Some("NotFound: namespace x not found"));
        assert_eq!(l.polls_outstanding(), 0);
    }

    #[test]
    fn each_sdk_worker_is_known_with_its_sticky_queue() {
        let mut l = ledger();
        l.poll_started(TaskKind::Workflow, instance(Some("sticky-1")), None);
        l.poll_started(TaskKind::Activity, instance(None), None);
        let other = Instance {
            key: "other".into(),
            queue: "q2".into(),
            ..instance(None)
        };
        l.poll_started(TaskKind::Activity, other.clone(), None);
        assert_eq!(l.instances(), [instance(Some("sticky-1")), other]);
    }
}
