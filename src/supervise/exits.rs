//! What a worker process's exit leads to: by itself (its restart policy and crash-loop backoff
//! decide, and no start goes into an outage, nor before a probe made since the exit found
//! Temporal well) or after a stop (why it was stopped decides).

use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use crate::config::{ProcessSettings, WorkerSpec};
use crate::duration;
use crate::supervise::phase::Presence;
use crate::supervise::policy::{self, Decision, History};
use crate::supervise::state::{Outcome, State};
use crate::supervise::stopping::StopReason;

/// A worker's restarts: what they have been so far, for its restart policy.
pub struct Restarts {
    history: History,
    /// When its current (or last) process started.
    started: Instant,
    /// `--restart-spread`: the window a start after Temporal's return is spread over.
    spread: Duration,
}

/// What an exit by itself leads to.
pub struct AfterExit {
    pub next: State,
    /// The transition's line.
    pub reason: String,
    pub outcome: Outcome,
    /// It counts as a restart (for the status).
    pub restarted: bool,
}

impl Restarts {
    pub fn new(spread: Duration) -> Restarts {
        Restarts {
            history: History::default(),
            started: Instant::now(),
            spread,
        }
    }

    /// A random moment of the restart spread, so that a fleet of supervisors that saw the same
    /// outage does not start its workers in step.
    pub fn spread(&self) -> Duration {
        policy::spread(self.spread, fastrand::f64())
    }

    /// A process of it started.
    pub fn started(&mut self) {
        self.started = Instant::now();
    }

    /// The restart policy, for a process of `worker` (`label`) that exited by itself with
    /// `code` after running `ran`; `at_terminal` when it holds the terminal. With Temporal up
    /// as far as we know, a restart waits for a fresh check (the worker may have been the first
    /// to see it go); while Temporal is lost or in doubt, a restart waits until it is there, and
    /// the exit does not grow the crash-loop delay: the outage caused it.
    pub fn after_exit(
        &mut self,
        worker: &WorkerSpec,
        (label, at_terminal): (&str, bool),
        (code, ran): (i32, Duration),
        temporal: Presence,
    ) -> AfterExit {
        let p = &worker.process;
        let decision = policy::decide(p, self.history, code, ran, at_terminal, fastrand::f64());
        let mut reason = decision.describe(code, ran, p.restart);
        let done = State::Exited(Some(code));
        let mut restarted = true;
        let (next, outcome) = match decision {
            Decision::Interrupted => (done, Outcome::Interrupted { code }),
            Decision::NoRestart => {
                let fatal = code != 0 && !worker.optional;
                (done, Outcome::Ended { code, fatal })
            }
            Decision::LimitReached => {
                warn!(worker = %label, code, restarts = self.history.restarts, "restart limit reached");
                let fatal = !worker.optional;
                (done, Outcome::Ended { code, fatal })
            }
            Decision::Restart { history, .. } if temporal == Presence::Up => {
                reason = format!(
                    "worker exited with code {code} after {}; restart {} once a probe finds \
                     Temporal there",
                    duration::format(ran),
                    history.restarts
                );
                let exited = Instant::now();
                let next = State::Confirming { code, ran, exited };
                (next, Outcome::CheckTemporal)
            }
            Decision::Restart { history, .. } if !temporal.allows_start() => {
                self.history = History {
                    crash_streak: self.history.crash_streak,
                    ..history
                };
                let (now, then) = match temporal {
                    Presence::Doubted => ("in doubt", "a probe finds it there"),
                    _ => ("lost", "it is back"),
                };
                reason = format!(
                    "worker exited with code {code} while Temporal is {now}; restart {} once \
                     {then}",
                    history.restarts
                );
                (State::WaitingForTemporal, Outcome::Nothing)
            }
            Decision::Restart { after, history } => {
                self.history = history;
                (State::BackingOff(Instant::now() + after), Outcome::Nothing)
            }
        };
        restarted &= matches!(next, State::WaitingForTemporal | State::BackingOff(_));
        AfterExit {
            next,
            reason,
            outcome,
            restarted,
        }
    }

    /// A process stopped for `why` is gone with its group, with `code`: the next state and
    /// the line; `temporal_up` when a start may follow now, `spread` the moment of one after
    /// Temporal's return.
    pub fn after_stop(
        &mut self,
        p: &ProcessSettings,
        (why, code): (StopReason, i32),
        temporal_up: bool,
        spread: Duration,
    ) -> (State, String) {
        match why {
            StopReason::Shutdown(_) => (
                State::Exited(Some(code)),
                format!("worker stopped after {why} (code {code})"),
            ),
            // Temporal came back while it was stopping: start it again, spread out.
            StopReason::TemporalLost if temporal_up => (
                State::BackingOff(Instant::now() + spread),
                format!(
                    "worker stopped (code {code}); Temporal is back, starting it again in {}",
                    duration::format(spread)
                ),
            ),
            StopReason::TemporalLost => (
                State::WaitingForTemporal,
                format!("worker stopped (code {code}); waiting for Temporal to come back"),
            ),
            // It could not reach Temporal through its endpoint, so it held nothing: again at once.
            StopReason::SpeaksTls => (
                State::BackingOff(Instant::now()),
                format!("worker stopped (code {code}); starting it again at once"),
            ),
            // A wedged worker starts again, backing off like a crashing one (plus the spread,
            // as many may be found wedged at once after a return); like a stop for Temporal,
            // this is the supervisor's doing, not judged by the restart policy.
            StopReason::NotPolling => {
                let ran = self.started.elapsed();
                let (after, history) = policy::backoff(p, self.history, ran, fastrand::f64());
                self.history = history;
                let after = after + spread;
                let reason = format!(
                    "worker stopped (code {code}); starting it again in {}",
                    duration::format(after)
                );
                (State::BackingOff(Instant::now() + after), reason)
            }
        }
    }
}
