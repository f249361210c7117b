//! The polls of one worker process: those open at Temporal now, what the last ones of each
//! queue showed, and the SDK workers they name.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::endpoint::metrics::{EndpointMetrics, TaskKind};

/// A poll Temporal kept open this long without an error was accepted: the frontend refuses a
/// bad namespace, queue or credential at once.
pub const POLL_ACCEPTED_AFTER: Duration = Duration::from_millis(300);
/// A queue counts as polled for this long after its last accepted poll ended (the SDKs poll
/// again at once; during an outage their polls fail instead).
pub const POLL_GAP: Duration = Duration::from_secs(5);

/// Who polls: the poll's identity, and the `(deployment name, build ID)` it carries.
pub type Poller = (String, Option<(String, String)>);

/// The poll identifier handed out by [`Polls::started`].
pub type PollId = u64;

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

/// The worker's polls, open and past.
pub struct Polls {
    open: HashMap<PollId, Poll>,
    next: PollId,
    queues: BTreeMap<(String, TaskKind), QueueSeen>,
    /// By instance key.
    instances: BTreeMap<String, Instance>,
    metrics: EndpointMetrics,
}

impl Polls {
    pub fn new(metrics: EndpointMetrics) -> Polls {
        Polls {
            open: HashMap::new(),
            next: 0,
            queues: BTreeMap::new(),
            instances: BTreeMap::new(),
            metrics,
        }
    }

    /// The worker process is gone, and its open polls with it.
    pub fn clear(&mut self) {
        self.open.clear();
        for kind in TaskKind::ALL {
            self.metrics.set_polls(kind, 0);
        }
    }

    /// A poll of `instance` is forwarded (for its normal queue, also when it polls the sticky
    /// one).
    pub fn started(
        &mut self,
        kind: TaskKind,
        instance: Instance,
        deployment: Option<(String, String)>,
    ) -> PollId {
        let queue = instance.queue.clone();
        let poller = (instance.identity.clone(), deployment);
        self.remember(instance);
        let id = self.next;
        self.next += 1;
        let poll = Poll {
            queue,
            kind,
            poller,
            accepted: false,
            started: Instant::now(),
        };
        self.open.insert(id, poll);
        self.update(kind);
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
    pub fn accepted(&mut self, id: PollId) {
        if let Some(poll) = self.open.get_mut(&id) {
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
    pub fn ended(&mut self, id: PollId, result: Result<(), String>) {
        let Some(poll) = self.open.remove(&id) else {
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
        self.update(poll.kind);
    }

    fn update(&self, kind: TaskKind) {
        let n = self.open.values().filter(|p| p.kind == kind).count();
        self.metrics.set_polls(kind, n as i64);
    }

    /// Polls forwarded and not yet ended.
    pub fn outstanding(&self) -> u64 {
        self.open.len() as u64
    }

    /// Who polls `queue` with one of `kinds` now: accepted polls open, and the last one that
    /// ended within [`POLL_GAP`], of those begun after `since` (when given); with the number of
    /// accepted polls open, and why the last poll failed when none is accepted.
    pub fn of_queue(
        &self,
        queue: &str,
        kinds: &[TaskKind],
        now: Instant,
        since: Option<Instant>,
    ) -> QueuePolling {
        let after = |t: Instant| since.is_none_or(|s| t >= s);
        let open: Vec<&Poll> = self
            .open
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
    pub fn ever(&self) -> bool {
        self.next > 0
    }
}

/// What [`Polls::of_queue`] found.
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
