//! The states the endpoints report, as types: the supervisor's as a whole and each worker
//! process's. Their names are what `/readyz`, `status` and the logs show.

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
