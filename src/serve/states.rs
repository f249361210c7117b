//! What the endpoints report, as types: the supervisor's state as a whole and each worker
//! process's, why a worker process was restarted, and the report that holds them. Their names
//! are what `/readyz`, `status`, the metrics and the logs show.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

/// Label pairs, for the metrics and the report; a worker process is labelled `worker` and
/// `replica`.
pub type Labels = Vec<(&'static str, String)>;

/// The supervisor's state as the endpoints report it.
#[derive(Debug)]
pub struct Report {
    /// The supervisor as a whole.
    pub state: RunState,
    pub temporal_up: bool,
    pub started: Instant,
    pub first_ready: Option<Duration>,
    pub last_probe: Option<LastProbe>,
    /// One per worker process, in the order of the configuration.
    pub workers: Vec<WorkerReport>,
}

/// One worker process (one replica of a worker).
#[derive(Debug)]
pub struct WorkerReport {
    pub name: String,
    /// 1-based.
    pub replica: u32,
    /// How the logs name it: the name, with `[N]` when the worker has several replicas.
    pub label: String,
    pub optional: bool,
    pub state: WorkerState,
    pub pid: Option<i32>,
    pub restarts: BTreeMap<RestartReason, u64>,
    pub recent_restarts: VecDeque<Restart>,
    /// `None` without task queues to check; otherwise whether it polls them.
    pub polling: Option<bool>,
    pub pollers_seen: u64,
    /// When not polling: what was seen on each queue instead.
    pub poller_findings: Vec<String>,
    /// Its process group survived SIGKILL: the supervisor cannot go on as designed.
    pub stuck: bool,
    /// Its metric labels.
    pub labels: Labels,
}

impl WorkerReport {
    /// It runs (or, watched, is there to be proven by its pollers).
    pub fn runs(&self) -> bool {
        match self.state {
            WorkerState::Running => self.pid.is_some(),
            WorkerState::Watched => true,
            _ => false,
        }
    }

    pub fn ready(&self) -> bool {
        self.runs() && self.polling != Some(false)
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "replica": self.replica,
            "optional": self.optional,
            "state": self.state.name(),
            "pid": self.pid,
            "restarts": self.restarts.values().sum::<u64>(),
            "restarts_by_reason": self.restarts,
            "recent_restarts": self.recent_restarts,
            "polling": self.polling,
            "pollers_seen": self.pollers_seen,
            "poller_findings": self.poller_findings,
        })
    }
}

/// One restart of a worker process, as `recent_restarts` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Restart {
    pub reason: RestartReason,
    pub detail: String,
    /// When, in seconds since the Unix epoch.
    pub at: f64,
}

#[derive(Debug, Clone)]
pub struct LastProbe {
    pub ok: bool,
    pub stage: Option<String>,
    pub reason: Option<String>,
    pub latency: Duration,
    pub at: SystemTime,
}

/// The supervisor as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Before the first wait begins.
    Starting,
    WaitingForTemporal,
    Running,
    /// Temporal lost; the workers are kept (`--on-disconnect keep` or `ignore`).
    TemporalLost,
    /// Stopping: the workers' endpoints drain them first.
    Draining,
    Stopping,
}

/// One worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// No process; it starts once Temporal is ready.
    WaitingForTemporal,
    Running,
    /// Asked to stop: its endpoint gives it no new work while it finishes what it holds.
    Draining,
    /// Asked to stop, in its grace period.
    Stopping,
    /// Exited by itself; starts again after a delay.
    BackingOff,
    /// Done for good.
    Exited,
    /// Not ours: `watch` only looks at its pollers.
    Watched,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::WaitingForTemporal => "waiting-for-temporal",
            RunState::Running => "running",
            RunState::TemporalLost => "temporal-lost",
            RunState::Draining => "draining",
            RunState::Stopping => "stopping",
        }
    }
}

impl WorkerState {
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::WaitingForTemporal => "waiting-for-temporal",
            WorkerState::Running => "running",
            WorkerState::Draining => "draining",
            WorkerState::Stopping => "stopping",
            WorkerState::BackingOff => "backing-off",
            WorkerState::Exited => "exited",
            WorkerState::Watched => "watched",
        }
    }
}

/// Why a worker process was restarted (the `reason` of the restart metric, the keys of
/// `restarts_by_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RestartReason {
    /// It exited by itself, and its restart policy starts it again.
    Exited,
    /// It did not poll its task queues while Temporal was fine.
    NotPolling,
    /// Temporal was lost with `--on-disconnect restart`.
    TemporalLost,
}

impl RestartReason {
    /// Every reason, in the order of their names (that of `restarts_by_reason`).
    #[cfg(test)]
    pub const ALL: [RestartReason; 3] = [
        RestartReason::Exited,
        RestartReason::NotPolling,
        RestartReason::TemporalLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Exited => "exited",
            RestartReason::NotPolling => "not-polling",
            RestartReason::TemporalLost => "temporal-lost",
        }
    }
}

impl Serialize for RestartReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl EncodeLabelValue for RestartReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_reasons_are_ordered_by_their_names() {
        let names: Vec<_> = RestartReason::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let mut reasons = RestartReason::ALL;
        reasons.sort();
        assert_eq!(reasons, RestartReason::ALL);
    }
}
