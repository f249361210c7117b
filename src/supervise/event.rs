//! What happened, as a transition's log line names it (`event=`): the run's transitions and
//! each worker process's.

/// An event that leads to a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The gate found Temporal ready the first time.
    TemporalReady,
    /// Temporal is back after a loss.
    TemporalBack,
    /// The monitor lost Temporal.
    TemporalLost,
    /// The monitor doubts Temporal.
    TemporalSuspect,
    /// A probe found Temporal well.
    TemporalConfirmed,
    /// SIGTERM or SIGINT to the supervisor, or a worker asked to stop.
    StopRequested,
    /// A worker failed for good.
    WorkerEnded,
    /// Every non-optional worker ended by itself.
    WorkersDone,
    /// Every worker stopped for a loss.
    WorkersStopped,
    /// A worker process started.
    Started,
    /// A worker process could not be started, for now.
    SpawnFailed,
    /// A worker process cannot be started at all.
    CannotStart,
    /// `run` ends while a worker has no process.
    Shutdown,
    /// A worker process exited.
    ChildExited,
    /// A worker process and its group are gone after a stop.
    ChildStopped,
    /// A worker's drain ended.
    Drained,
    /// A worker's timer fired.
    Timer,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::TemporalReady => "temporal-ready",
            Event::TemporalBack => "temporal-back",
            Event::TemporalLost => "temporal-lost",
            Event::TemporalSuspect => "temporal-suspect",
            Event::TemporalConfirmed => "temporal-confirmed",
            Event::StopRequested => "stop-requested",
            Event::WorkerEnded => "worker-ended",
            Event::WorkersDone => "workers-done",
            Event::WorkersStopped => "workers-stopped",
            Event::Started => "started",
            Event::SpawnFailed => "spawn-failed",
            Event::CannotStart => "cannot-start",
            Event::Shutdown => "shutdown",
            Event::ChildExited => "child-exited",
            Event::ChildStopped => "child-stopped",
            Event::Drained => "drained",
            Event::Timer => "timer",
        }
    }
}
