//! The settings that take one of a few named values, as `clap::ValueEnum`s: their names are
//! what every source accepts, the help lists and the report shows.

use clap::ValueEnum;

/// What `run` does when Temporal is lost while the workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDisconnect {
    /// Keep the workers (their SDKs reconnect by themselves, finishing the work in flight);
    /// start none into the outage; once Temporal is back, replace a worker with task queues
    /// that is not seen polling again within its poller deadline.
    Keep,
    /// Stop the workers, wait for Temporal again, start new ones.
    Restart,
    /// Stop the workers and exit 69, for the orchestrator to restart the container.
    Exit,
    /// Keep the workers and only report; their own exits are handled as if Temporal were there.
    Ignore,
}

/// What `run` does when a worker exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

/// Which pollers of a task queue count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueType {
    Any,
    Workflow,
    Activity,
}

/// What becomes of a worker's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Each line prefixed with the worker's name.
    Prefix,
    /// Passed through.
    Inherit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn tracing(self) -> tracing::Level {
        // tracing's level names are ours.
        name(self).parse().expect("a tracing level's name")
    }
}

/// The name of a choice, as it is written.
pub fn name<E: ValueEnum>(value: E) -> String {
    <crate::config::kinds::Choice<E> as crate::config::kinds::Kind>::show(&value)
}
