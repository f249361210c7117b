//! What a worker process's exit leads to: by itself (its restart policy and crash-loop backoff
//! decide, and no start goes into an outage, nor before a probe made since the exit found
//! Temporal well) or after a stop (why it was stopped decides).

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::duration;
use crate::supervise::launch::Launch;
use crate::supervise::outage::Presence;
use crate::supervise::policy::{self, Decision, History};
use crate::supervise::stopping::{Stop, StopReason};
use crate::supervise::worker::{Outcome, Replica, State};

impl Replica {
    /// The worker process exited with `code` (its own, or 128+N for signal N).
    pub fn on_exit(&mut self, code: i32, temporal: Presence, l: &Launch) -> Outcome {
        match &mut self.state {
            State::Running(child) => {
                let (pid, ran) = (child.pid.as_raw(), child.started.elapsed());
                // The worker is gone; what is left of its group goes too.
                let leftovers = l.os.group_alive(child.pid);
                if leftovers {
                    l.os.signal_group(child.pid, Signal::SIGKILL);
                }
                self.ended(l);
                info!(worker = %self.label, child_pid = pid, code, ran = %duration::format(ran), "worker exited by itself");
                if leftovers {
                    warn!(worker = %self.label, child_pid = pid, "killed what was left of the worker's process group");
                }
                if code != 0 {
                    self.unconnected_exit();
                }
                self.after_exit(code, ran, temporal, "child-exited", l)
            }
            State::Stopping(stop) => {
                info!(worker = %self.label, child_pid = stop.child.pid.as_raw(), code, "worker exited");
                stop.exited(code);
                self.ended(l);
                self.on_timer(temporal, l)
            }
            State::Draining(_) => {
                let from = self.state.reported();
                let State::Draining(d) =
                    std::mem::replace(&mut self.state, State::WaitingForTemporal)
                else {
                    unreachable!("matched above");
                };
                let pid = d.child.pid.as_raw();
                let stop = Stop::after_exit_in_drain(d, code, &self.spec.process, l.os);
                let said = format!("worker (pid {pid}) exited with code {code} while draining");
                self.transition_from(from, State::Stopping(stop), "child-exited", said, l);
                self.ended(l);
                self.on_timer(temporal, l)
            }
            _ => Outcome::Nothing,
        }
    }

    /// The process is gone: no more poller checks, the terminal back to us.
    fn ended(&mut self, l: &Launch) {
        self.polling.stop();
        l.status.set_child(self.index, None, false);
        if l.take_terminal {
            l.os.take_terminal_back();
        }
    }

    /// The restart policy, for a worker that exited by itself. With Temporal up as far as we
    /// know, a restart waits for a fresh check (the worker may have been the first to see it
    /// go); while Temporal is lost or in doubt, a restart waits until it is there, and the exit
    /// does not grow the crash-loop delay: the outage caused it.
    pub(super) fn after_exit(
        &mut self,
        code: i32,
        ran: Duration,
        temporal: Presence,
        event: &'static str,
        l: &Launch,
    ) -> Outcome {
        let p = &self.spec.process;
        let decision = policy::decide(p, self.history, code, ran, l.take_terminal, fastrand::f64());
        let mut reason = decision.describe(code, ran, p.restart);
        let done = State::Exited(Some(code));
        let (next, outcome) = match decision {
            Decision::Interrupted => (done, Outcome::Interrupted { code }),
            Decision::NoRestart => {
                let fatal = code != 0 && !self.spec.optional;
                (done, Outcome::Ended { code, fatal })
            }
            Decision::LimitReached => {
                warn!(worker = %self.label, code, restarts = self.history.restarts, "restart limit reached");
                let fatal = !self.spec.optional;
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
                l.status
                    .restarted(self.index, "exited", &format!("exited with code {code}"));
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
                l.status
                    .restarted(self.index, "exited", &format!("exited with code {code}"));
                (State::BackingOff(Instant::now() + after), Outcome::Nothing)
            }
        };
        self.transition(next, event, reason, l);
        outcome
    }

    /// The worker process and its group are gone.
    pub(super) fn after_stop(
        &mut self,
        why: StopReason,
        code: i32,
        temporal_up: bool,
        l: &Launch,
    ) -> Outcome {
        self.ended(l);
        let spread = policy::spread(l.config.run.restart_spread, fastrand::f64());
        let (next, reason) = match why {
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
                let (after, history) =
                    policy::backoff(&self.spec.process, self.history, ran, fastrand::f64());
                self.history = history;
                let after = after + spread;
                let reason = format!(
                    "worker stopped (code {code}); starting it again in {}",
                    duration::format(after)
                );
                (State::BackingOff(Instant::now() + after), reason)
            }
        };
        self.transition(next, "child-stopped", reason, l);
        Outcome::Nothing
    }
}
