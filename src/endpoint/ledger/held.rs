//! The tasks one worker process holds: from the moment one reaches it until Temporal has its
//! answer (see [`super`] for what counts as either).

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use tonic::Code;

use crate::endpoint::metrics::{EndpointMetrics, TaskKind, Via};

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

/// How an answer RPC went, for the task it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Completed,
    Failed,
}

#[derive(Debug)]
struct Held {
    kind: TaskKind,
    activity: Option<ActivityKey>,
    since: Instant,
}

/// The tasks held now, by token (and activities by their ids too).
pub struct Tasks {
    held: HashMap<Bytes, Held>,
    activities: HashMap<ActivityKey, Bytes>,
    metrics: EndpointMetrics,
    /// Past [`MOST_HELD`] once: said once.
    forgot: bool,
}

impl Tasks {
    pub fn new(metrics: EndpointMetrics) -> Tasks {
        Tasks {
            held: HashMap::new(),
            activities: HashMap::new(),
            metrics,
            forgot: false,
        }
    }

    /// The worker process is gone, and its tasks with it.
    pub fn clear(&mut self) {
        self.held.clear();
        self.activities.clear();
        for kind in TaskKind::ALL {
            self.metrics.set_in_flight(kind, 0);
        }
    }

    /// A task reached the worker; returns whether it is a new one.
    pub fn delivered(&mut self, task: Task) -> bool {
        let Task {
            token,
            kind,
            activity,
            via,
        } = task;
        if token.is_empty() {
            return false;
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
        let new = self.held.insert(token, held).is_none();
        if new {
            self.metrics.delivered(kind, via);
        }
        self.update_in_flight(kind);
        new
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

    /// Temporal answered `status` to an answer RPC for the task `token`; returns whether that
    /// let a held task go.
    pub fn answered(&mut self, token: &[u8], answer: Answer, status: Code) -> bool {
        if !settles(status) {
            return false;
        }
        let Some(kind) = self.release(token) else {
            return false;
        };
        match (answer, status) {
            (Answer::Completed, Code::Ok) => self.metrics.completed(kind),
            _ => self.metrics.failed(kind),
        }
        true
    }

    /// As [`Tasks::answered`], for an activity named by its ids.
    pub fn answered_by_id(&mut self, key: &ActivityKey, answer: Answer, status: Code) -> bool {
        match self.activities.get(key).cloned() {
            Some(token) => self.answered(&token, answer, status),
            None => false,
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
    pub fn count(&self) -> u64 {
        self.held.len() as u64
    }

    /// Held tasks by kind, as the log says them ("2 activity, 1 workflow").
    pub fn words(&self) -> String {
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

    /// Whether an activity is still known by its ids.
    #[cfg(test)]
    pub fn knows_activities(&self) -> bool {
        !self.activities.is_empty()
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
