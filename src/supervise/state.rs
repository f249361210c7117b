//! One worker process's states, and what the runner learns from its events.
//!
//! ```text
//!                    start (Temporal ready)       exits by itself, policy says restart (below)
//!  WaitingForTemporal ─────────────────▶ Running ──────────────────────────────▶ BackingOff
//!    │  ▲                                 │  │                                      │
//!    │  │ exits while Temporal is lost    │  │ exits, no restart (policy, limit)    │ delay over:
//!    │  │ or in doubt, stopped for a loss │  ▼                                      │ start, or wait
//!    │  └──────────────────── Stopping ◀──┘ Exited ◀── Stopping (shutdown)        │ for Temporal
//!    │                          ▲                                                  │
//!    │                          └──────────── stop (Temporal lost with restart, ───┘
//!    │                                         not polling, shutdown)             ▲
//!    └──── Temporal back, or a good probe after a doubt: a start spread over ─────┘
//!          --restart-spread
//!
//!  Running ── exits while Temporal seems up, policy says restart ──▶ Confirming
//!  Confirming ── a probe made since the exit finds Temporal well ──▶ BackingOff
//!  Confirming ── Temporal in doubt or lost ──▶ WaitingForTemporal
//! ```
//!
//! While Temporal is lost, a running worker is left alone (its SDK reconnects) unless
//! `--on-disconnect restart` stops it; one that exits meanwhile waits for Temporal's return
//! instead of starting into the outage, and its crash-loop delay does not grow for it. The
//! same holds while Temporal is only in doubt (the monitor's health watch ended or a probe
//! failed, and it is not yet counted lost), and a worker's exit is itself a sign: before
//! its restart, a probe made after the exit must find Temporal well. After a return it must
//! poll again within its poller deadline, or it is replaced.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::process::child::Child;
use crate::process::system::Processes;
use crate::serve::status::WorkerState;
use crate::supervise::stopping::{Draining, Stop};

pub enum State {
    /// No process; it starts once Temporal is ready.
    WaitingForTemporal,
    Running(Child),
    /// Asked to stop: its endpoint drains it before the stop signal.
    Draining(Draining),
    /// Asked to stop.
    Stopping(Stop),
    /// Exited by itself at `exited`, after running `ran`, with `code`, and its policy restarts
    /// it: waits for a probe made since to find Temporal well (the outage may be why it
    /// exited) before its restart is decided.
    Confirming {
        code: i32,
        ran: Duration,
        exited: Instant,
    },
    /// Exited by itself; starts again after the delay.
    BackingOff(Instant),
    /// Done for good, with the code it ended with (`None`: it never ran).
    Exited(Option<i32>),
}

impl State {
    /// The state as the endpoints report it.
    pub fn reported(&self) -> WorkerState {
        match self {
            State::WaitingForTemporal | State::Confirming { .. } => WorkerState::WaitingForTemporal,
            State::Running(_) => WorkerState::Running,
            State::Draining(_) => WorkerState::Draining,
            State::Stopping(_) => WorkerState::Stopping,
            State::BackingOff(_) => WorkerState::BackingOff,
            State::Exited(_) => WorkerState::Exited,
        }
    }

    /// The process it runs or stops.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            State::Running(child)
            | State::Draining(Draining { child, .. })
            | State::Stopping(Stop { child, .. }) => Some(child.pid),
            _ => None,
        }
    }

    pub fn has_process(&self) -> bool {
        self.pid().is_some()
    }

    /// `Some(code)` once it is done for good (`None` inside: it never ran).
    pub fn exited(&self) -> Option<Option<i32>> {
        match self {
            State::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// When its next timer fires, if the state needs one.
    pub fn timer(&self) -> Option<Instant> {
        match self {
            State::Stopping(stop) => Some(stop.timer()),
            State::BackingOff(until) => Some(*until),
            _ => None,
        }
    }

    /// Forwards a signal to the process of the worker `label`, also while it stops (a stuck
    /// worker asked for a stack dump during its grace period).
    pub fn forward(&self, signal: Signal, os: &dyn Processes, label: &str) {
        match self {
            State::Running(child) => {
                os.signal(child.pid, signal);
                info!(worker = %label, child_pid = child.pid.as_raw(), "forwarded {} to the worker", signal.as_str());
            }
            State::Stopping(Stop { child, .. }) | State::Draining(Draining { child, .. }) => {
                os.signal(child.pid, signal);
                debug!(worker = %label, child_pid = child.pid.as_raw(), "forwarded {} to the worker while it stops", signal.as_str());
            }
            _ => {}
        }
    }
}

/// What the runner learns from an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Nothing,
    /// It ended for good by itself, with its code; `fatal` when that ends `run` (a
    /// non-optional worker that failed beyond its restart policy).
    Ended {
        code: i32,
        fatal: bool,
    },
    /// Ctrl-C at the terminal ended it: `run` ends as if the supervisor got it.
    Interrupted {
        code: i32,
    },
    /// It could not be started (its program vanished): like a failure.
    CannotStart {
        code: i32,
    },
    /// Its restart waits for a fresh check of Temporal: the runner asks the monitor for one.
    CheckTemporal,
    /// Its restart delay is over and Temporal is there: the runner starts it (with the launch).
    Start,
}

impl Outcome {
    /// The code this outcome ends `run` with, if it does, for a worker that is `optional` or
    /// not (an optional worker's failure is only said).
    pub fn ends_run(self, optional: bool) -> Option<i32> {
        match self {
            Outcome::Nothing | Outcome::CheckTemporal | Outcome::Start => None,
            Outcome::Ended { .. } | Outcome::CannotStart { .. } if optional => None,
            Outcome::Ended { fatal: false, .. } => None,
            Outcome::Ended { code, .. }
            | Outcome::CannotStart { code }
            | Outcome::Interrupted { code } => Some(code),
        }
    }
}
