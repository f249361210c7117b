//! One worker process (one replica of a worker) as a state machine.
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
//!
//! The runner ([`super::runner`]) tells it what happened to Temporal and to the supervisor;
//! the replica handles its own child's exit with its own restart policy and crash-loop
//! backoff, without touching the others. Every transition is one log line with the worker's
//! name, the state, the previous state, the event and the reason. Stopping sends the stop
//! signal to the worker's process group, waits until every process of the group is gone, and
//! SIGKILLs the group when the stop timeout runs out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::WorkerSpec;
use crate::config::workers;
use crate::duration;
use crate::endpoint::{DrainEnd, DrainReport, Endpoint};
use crate::process::child::{Child, SpawnError};
use crate::serve::status::WorkerState;
use crate::supervise::launch::Launch;
use crate::supervise::outage::Presence;
use crate::supervise::policy::History;
use crate::supervise::polling::{Polling, Verdict};
pub use crate::supervise::stopping::StopReason;
use crate::supervise::stopping::{Draining, Progress, Stop};
use crate::temporal::pollers::PollerReport;
use crate::temporal::probe::ProbeError;

pub(super) enum State {
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
    pub(super) fn reported(&self) -> WorkerState {
        match self {
            State::WaitingForTemporal | State::Confirming { .. } => WorkerState::WaitingForTemporal,
            State::Running(_) => WorkerState::Running,
            State::Draining(_) => WorkerState::Draining,
            State::Stopping(_) => WorkerState::Stopping,
            State::BackingOff(_) => WorkerState::BackingOff,
            State::Exited(_) => WorkerState::Exited,
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
}

pub struct Replica {
    pub spec: Arc<WorkerSpec>,
    /// 1-based.
    pub replica: u32,
    /// The name, with `[N]` when the worker has several replicas.
    pub label: String,
    /// Its place in the status report.
    pub index: usize,
    pub(super) state: State,
    /// Its restarts so far, for the restart policy.
    pub(super) history: History,
    /// Its current process's pollers.
    pub(super) polling: Polling,
    /// When its current (or last) process started.
    pub(super) started: Instant,
    /// Its local Temporal endpoint, the same for each of its processes.
    pub endpoint: Option<Endpoint>,
    /// It speaks TLS itself: its processes get the connection directly, not the endpoint.
    direct: bool,
    /// A failure before it ever connected to its endpoint was explained once.
    explained: bool,
}

impl Replica {
    pub fn new(
        spec: Arc<WorkerSpec>,
        replica: u32,
        index: usize,
        endpoint: Option<Endpoint>,
    ) -> Replica {
        let label = workers::label(&spec, replica);
        Replica {
            endpoint,
            direct: false,
            explained: false,
            spec,
            replica,
            label,
            index,
            state: State::WaitingForTemporal,
            history: History::default(),
            polling: Polling::new(None),
            started: Instant::now(),
        }
    }

    /// The process it runs or stops.
    pub fn pid(&self) -> Option<nix::unistd::Pid> {
        match &self.state {
            State::Running(child)
            | State::Draining(Draining { child, .. })
            | State::Stopping(Stop { child, .. }) => Some(child.pid),
            _ => None,
        }
    }

    pub fn has_process(&self) -> bool {
        self.pid().is_some()
    }

    pub fn is_draining(&self) -> bool {
        matches!(self.state, State::Draining(_))
    }

    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::WaitingForTemporal)
    }

    /// `Some(code)` once it is done for good (`None` inside: it never ran).
    pub fn exited(&self) -> Option<Option<i32>> {
        match self.state {
            State::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// When its next timer fires, if its state needs one.
    pub fn timer(&self) -> Option<Instant> {
        match &self.state {
            State::Stopping(stop) => Some(stop.timer()),
            State::BackingOff(until) => Some(*until),
            _ => None,
        }
    }

    /// Enters a new state; logs the transition as one line with the event and its reason.
    pub(super) fn transition(
        &mut self,
        to: State,
        event: &'static str,
        reason: impl fmt::Display,
        l: &Launch,
    ) {
        self.transition_from(self.state.reported(), to, event, reason, l);
    }

    /// For handlers that took the old state apart to build the new one.
    pub(super) fn transition_from(
        &mut self,
        from: WorkerState,
        to: State,
        event: &'static str,
        reason: impl fmt::Display,
        l: &Launch,
    ) {
        let state = to.reported();
        info!(worker = %self.label, state = state.name(), previous = from.name(), event, "{reason}");
        l.status.set_worker_state(self.index, state);
        self.state = to;
    }

    /// Starts the worker process (Temporal is ready).
    pub fn start(&mut self, l: &Launch) -> Outcome {
        let endpoint = self.endpoint.as_ref().filter(|_| !self.direct);
        let spec = l.child_spec(&self.spec, endpoint);
        if let Some(endpoint) = endpoint {
            endpoint.new_process();
        }
        let (child, pipes) = match l.os.spawn(&spec) {
            Ok(started) => started,
            Err(e) if e.transient => {
                error!(worker = %self.label, "{}; trying again", e.message);
                let code = e.code.into();
                return self.after_exit(code, Duration::ZERO, Presence::There, "spawn-failed", l);
            }
            Err(SpawnError { code, message, .. }) => {
                error!(worker = %self.label, "{message}");
                let code = i32::from(code);
                self.transition(State::Exited(Some(code)), "cannot-start", "cannot start", l);
                return Outcome::CannotStart { code };
            }
        };
        let pid = child.pid.as_raw();
        info!(worker = %self.label, child_pid = pid, command = %spec.shown(), "worker started");
        if let (Some(output), Some(pipes)) = (&l.output, pipes) {
            output.attach(
                &self.spec.name,
                self.replica,
                &self.label,
                self.index,
                pipes,
            );
        }
        self.started = Instant::now();
        let view = endpoint.map(Endpoint::view);
        let proof = l.watch_pollers(&self.spec, (&self.label, pid, self.index), view);
        self.polling = Polling::new(proof);
        self.transition(State::Running(child), "started", "worker running", l);
        Outcome::Nothing
    }

    /// Asks the worker process to stop; a replica without one that is told to shut down is
    /// simply done.
    pub fn stop(&mut self, why: StopReason, l: &Launch) {
        match &mut self.state {
            State::Running(_) if why.drains() && self.endpoint.is_some() && !self.direct => {
                self.begin_drain(why, l)
            }
            State::Running(_) => self.begin_stop(why, l),
            State::Draining(draining) => {
                if let StopReason::Shutdown(_) = why {
                    draining.why = why;
                    draining.drain.skip();
                    info!(worker = %self.label, "{why} while draining: the rest of the drain is skipped");
                }
            }
            State::Stopping(stop) => {
                let left = stop.again(why);
                if let StopReason::Shutdown(_) = why {
                    info!(
                        worker = %self.label,
                        "{why} while stopping; the grace period continues (SIGKILL in {}), then exit",
                        duration::format(left)
                    );
                }
            }
            State::WaitingForTemporal | State::BackingOff(_) | State::Confirming { .. } => {
                match why {
                    StopReason::Shutdown(_) => self.transition(
                        State::Exited(None),
                        "shutdown",
                        format!("{why}; no worker process to stop"),
                        l,
                    ),
                    _ if matches!(self.state, State::BackingOff(_)) => self.transition(
                        State::WaitingForTemporal,
                        "temporal-lost",
                        "Temporal lost while backing off; waiting for it",
                        l,
                    ),
                    _ => {}
                }
            }
            State::Exited(_) => {}
        }
    }

    /// It failed without ever connecting to its endpoint: says once what that may mean (a
    /// worker that reads the credentials itself finds none with the endpoint).
    pub(super) fn unconnected_exit(&mut self) {
        let Some(endpoint) = self.endpoint.as_ref().filter(|_| !self.direct) else {
            return;
        };
        if self.explained || endpoint.was_connected() {
            return;
        }
        self.explained = true;
        warn!(
            worker = %self.label,
            endpoint = %endpoint.address(),
            "the worker failed before connecting to its local endpoint: one that reads \
             TEMPORAL_API_KEY or TLS files itself finds none there (the endpoint holds the \
             credentials); have it read the connection from Temporal's environment \
             configuration, or turn the endpoint off (--endpoint=false)"
        );
    }

    /// Its endpoint heard it speak TLS (its code turns TLS on itself): it starts again with the
    /// connection handed over directly.
    pub fn speaks_tls(&mut self, l: &Launch) {
        if self.direct {
            return;
        }
        self.direct = true;
        info!(
            worker = %self.label,
            "from now on the worker gets the connection handed over directly (as with \
             --endpoint=false): it is not drained on stop"
        );
        if let State::Running(_) = self.state {
            self.begin_stop(StopReason::SpeaksTls, l);
        }
    }

    fn begin_drain(&mut self, why: StopReason, l: &Launch) {
        let from = self.state.reported();
        let State::Running(child) = std::mem::replace(&mut self.state, State::WaitingForTemporal)
        else {
            unreachable!("begin_drain is only called while running");
        };
        self.polling.stop();
        let endpoint = self
            .endpoint
            .as_ref()
            .expect("a worker with an endpoint drains");
        let reports = (self.index, l.drain_reports.clone());
        let (draining, said) = Draining::begin(child, why, &self.spec.process, endpoint, reports);
        self.transition_from(from, State::Draining(draining), "stop-requested", said, l);
    }

    /// Its drain ended: what was left is said, then the stop signal goes.
    pub fn on_drained(&mut self, report: DrainReport, l: &Launch) {
        if !matches!(self.state, State::Draining(_)) {
            return; // a report for a drain cut short by the worker's exit
        }
        let from = self.state.reported();
        let State::Draining(draining) =
            std::mem::replace(&mut self.state, State::WaitingForTemporal)
        else {
            unreachable!("matched above");
        };
        let t = report.tally;
        let took = duration::format(report.took);
        let counts = format!(
            "{} finished ({} held at the start, {} arrived since), {} left",
            t.finished, t.at_start, t.arrived, report.left
        );
        let end = match report.end {
            DrainEnd::Completed => "completed",
            DrainEnd::Deadline => "ended by its deadline",
            DrainEnd::Skipped => "cut short by a second stop signal",
        };
        if report.left > 0 {
            warn!(worker = %self.label, "drain {end} after {took}: {counts}: {} abandoned", report.left_words);
        } else if report.polls_open > 0 {
            info!(
                worker = %self.label,
                "drain {end} after {took}: {counts}; {} polls still open end with the worker \
                 (the namespace cannot complete them: frontend.enableCancelWorkerPollsOnShutdown)",
                report.polls_open
            );
        } else {
            info!(worker = %self.label, "drain {end} after {took}: {counts}");
        }
        // Nothing abandoned: the worker ending by the stop signal is an orderly stop.
        let orderly = report.left == 0;
        let Draining {
            child, why, began, ..
        } = draining;
        let (stop, said) = Stop::after_drain(child, why, &self.spec.process, l.os, began, orderly);
        self.transition_from(from, State::Stopping(stop), "drained", said, l);
    }

    pub(super) fn begin_stop(&mut self, why: StopReason, l: &Launch) {
        let from = self.state.reported();
        let State::Running(child) = std::mem::replace(&mut self.state, State::WaitingForTemporal)
        else {
            unreachable!("begin_stop is only called while running");
        };
        self.polling.stop();
        let (stop, said) = Stop::begin(child, why, &self.spec.process, l.os);
        self.transition_from(from, State::Stopping(stop), "stop-requested", said, l);
    }

    /// A timer fired (or a stopping worker exited): backoff over, or the stop's progress.
    pub fn on_timer(&mut self, temporal: Presence, l: &Launch) -> Outcome {
        let temporal_up = temporal.allows_start();
        match &mut self.state {
            State::BackingOff(until) if Instant::now() >= *until => {
                if temporal_up {
                    self.start(l)
                } else {
                    self.transition(
                        State::WaitingForTemporal,
                        "timer",
                        "restart delay over; waiting for Temporal",
                        l,
                    );
                    Outcome::Nothing
                }
            }
            State::Stopping(stop) => match stop.progress(&self.label, l.os) {
                Progress::Going => Outcome::Nothing,
                Progress::Done(code) => {
                    let why = stop.why;
                    self.after_stop(why, code, temporal_up, l)
                }
                Progress::Stuck(code) => {
                    let why = stop.why;
                    l.status.set_stuck(self.index);
                    self.after_stop(why, code, temporal_up, l)
                }
            },
            _ => Outcome::Nothing,
        }
    }

    /// Forwards a signal to the worker process, also while it stops (a stuck worker asked
    /// for a stack dump during its grace period).
    pub fn forward(&self, signal: Signal, l: &Launch) {
        match &self.state {
            State::Running(child) => {
                l.os.signal(child.pid, signal);
                info!(worker = %self.label, child_pid = child.pid.as_raw(), "forwarded {} to the worker", signal.as_str());
            }
            State::Stopping(Stop { child, .. }) | State::Draining(Draining { child, .. }) => {
                l.os.signal(child.pid, signal);
                debug!(worker = %self.label, child_pid = child.pid.as_raw(), "forwarded {} to the worker while it stops", signal.as_str());
            }
            _ => {}
        }
    }

    /// A report about its pollers, while Temporal is fine: a wedged process is stopped and
    /// started again.
    pub fn on_pollers(&mut self, pid: i32, report: Result<PollerReport, ProbeError>, l: &Launch) {
        match &self.state {
            State::Running(child) if child.pid.as_raw() == pid => {}
            _ => return, // a report about a process it no longer runs
        }
        let deadline = self.spec.pollers.deadline;
        match self.polling.judge(&self.label, pid, report, deadline) {
            Verdict::Nothing => {}
            Verdict::Report(r) => l
                .status
                .set_polling(self.index, r.polling, r.seen, &r.findings),
            Verdict::Wedged(r, why) => {
                l.status
                    .set_polling(self.index, r.polling, r.seen, &r.findings);
                l.status.restarted(self.index, "not-polling", &why);
                self.begin_stop(StopReason::NotPolling, l);
            }
        }
    }
}
