//! One worker process (one replica of a worker) as a state machine ([`super::state`]): one
//! handler per event, switching on the current state; every transition is one log line with
//! the worker's name, the state, the previous state, the event and the reason. Its own exits
//! go through its restart policy and crash-loop backoff ([`super::exits`]), without touching
//! the others; its stops ([`super::stopping`]) drain it first where it has an endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::WorkerSpec;
use crate::duration;
use crate::endpoint::{DrainReport, Endpoint};
use crate::process::child::SpawnError;
use crate::process::system::Processes;
use crate::serve::status::{RestartReason, Status, WorkerState};
use crate::supervise::event::Event;
use crate::supervise::exits::Restarts;
use crate::supervise::launch::Launch;
use crate::supervise::link::Link;
use crate::supervise::phase::Presence;
use crate::supervise::polling::{Polling, Verdict};
pub use crate::supervise::state::{Outcome, State};
pub use crate::supervise::stopping::StopReason;
use crate::supervise::stopping::{Draining, Progress, Stop};
use crate::temporal::pollers::PollerReport;
use crate::temporal::probe::ProbeError;

pub struct Replica {
    pub spec: Arc<WorkerSpec>,
    /// 1-based.
    pub replica: u32,
    /// The name, with `[N]` when the worker has several replicas.
    pub label: String,
    /// Its place in the status report.
    pub index: usize,
    /// The status it reports to.
    status: Status,
    /// It holds the terminal (the one worker of `run`, in the foreground).
    at_terminal: bool,
    state: State,
    /// Its restarts so far, for the restart policy.
    restarts: Restarts,
    /// Its current process's pollers.
    polling: Polling,
    /// How its processes reach Temporal.
    link: Link,
}

impl Replica {
    /// The replica `replica` (1-based) of `spec`, named `label`, at `index` of `status`, with
    /// what each of its processes starts with (the terminal, the restart spread) and its
    /// local endpoint, where its drains report.
    pub fn new(
        spec: Arc<WorkerSpec>,
        (replica, label): (u32, String),
        (status, index): (Status, usize),
        (at_terminal, spread): (bool, Duration),
        link: Link,
    ) -> Replica {
        Replica {
            spec,
            replica,
            label,
            index,
            status,
            at_terminal,
            state: State::WaitingForTemporal,
            restarts: Restarts::new(spread),
            polling: Polling::new(None),
            link,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Enters a new state; logs the transition as one line with the event and its reason.
    fn transition(&mut self, to: State, event: Event, reason: impl fmt::Display) {
        self.transition_from(self.state.reported(), to, event, reason);
    }

    /// For handlers that took the old state apart ([`Replica::take_state`]) to build the new one.
    fn transition_from(
        &mut self,
        from: WorkerState,
        to: State,
        event: Event,
        reason: impl fmt::Display,
    ) {
        let state = to.reported();
        let event = event.as_str();
        info!(worker = %self.label, state = state.name(), previous = from.name(), event, "{reason}");
        self.status.set_worker_state(self.index, state);
        self.state = to;
    }

    /// Takes the state apart, with what it reported, for a handler that builds the next one.
    fn take_state(&mut self) -> (WorkerState, State) {
        let from = self.state.reported();
        let state = std::mem::replace(&mut self.state, State::WaitingForTemporal);
        (from, state)
    }

    /// Starts the worker process (Temporal is ready).
    pub fn start(&mut self, l: &Launch) -> Outcome {
        let endpoint = self.link.endpoint();
        let spec = l.child_spec(&self.spec, endpoint);
        if let Some(endpoint) = endpoint {
            endpoint.new_process();
        }
        let (child, pipes) = match l.os.spawn(&spec) {
            Ok(started) => started,
            Err(e) if e.transient => {
                error!(worker = %self.label, "{}; trying again", e.message);
                let exit = (e.code.into(), Duration::ZERO);
                return self.after_exit(exit, Presence::There, Event::SpawnFailed);
            }
            Err(SpawnError { code, message, .. }) => {
                error!(worker = %self.label, "{message}");
                let code = i32::from(code);
                let exited = State::Exited(Some(code));
                self.transition(exited, Event::CannotStart, "cannot start");
                return Outcome::CannotStart { code };
            }
        };
        let pid = child.pid.as_raw();
        info!(worker = %self.label, child_pid = pid, command = %spec.shown(), "worker started");
        if let (Some(output), Some(pipes)) = (&l.output, pipes) {
            let (name, label) = (&self.spec.name, &self.label);
            output.attach(name, self.replica, label, self.index, pipes);
        }
        self.restarts.started();
        let view = self.link.endpoint().map(Endpoint::view);
        let proof = l.watch_pollers(&self.spec, (&self.label, pid, self.index), view);
        self.polling = Polling::new(proof);
        self.transition(State::Running(child), Event::Started, "worker running");
        Outcome::Nothing
    }

    /// Asks the worker process to stop; a replica without one that is told to shut down is
    /// simply done.
    pub fn stop(&mut self, why: StopReason, os: &dyn Processes) {
        match &mut self.state {
            State::Running(_) if why.drains() && self.link.endpoint().is_some() => {
                self.begin_drain(why)
            }
            State::Running(_) => self.begin_stop(why, os),
            State::Draining(draining) => draining.again(why, &self.label),
            State::Stopping(stop) => stop.again(why, &self.label),
            State::WaitingForTemporal | State::BackingOff(_) | State::Confirming { .. } => {
                if let StopReason::Shutdown(_) = why {
                    let reason = format!("{why}; no worker process to stop");
                    self.transition(State::Exited(None), Event::Shutdown, reason);
                } else if matches!(self.state, State::BackingOff(_)) {
                    let reason = "Temporal lost while backing off; waiting for it";
                    self.transition(State::WaitingForTemporal, Event::TemporalLost, reason);
                }
            }
            State::Exited(_) => {}
        }
    }

    /// Its endpoint heard it speak TLS (its code turns TLS on itself): it starts again with the
    /// connection handed over directly.
    pub fn speaks_tls(&mut self, os: &dyn Processes) {
        if self.link.speaks_tls(&self.label) && matches!(self.state, State::Running(_)) {
            self.begin_stop(StopReason::SpeaksTls, os);
        }
    }

    fn begin_drain(&mut self, why: StopReason) {
        let (from, State::Running(child)) = self.take_state() else {
            unreachable!("begin_drain is only called while running");
        };
        self.polling.stop();
        let endpoint = self
            .link
            .endpoint()
            .expect("a worker with an endpoint drains");
        let reports = (self.index, self.link.drain_reports());
        let (draining, said) = Draining::begin(child, why, &self.spec.process, endpoint, reports);
        self.transition_from(from, State::Draining(draining), Event::StopRequested, said);
    }

    /// Its drain ended: what was left is said, then the stop signal goes.
    pub fn on_drained(&mut self, report: DrainReport, os: &dyn Processes) {
        if !matches!(self.state, State::Draining(_)) {
            return; // a report for a drain cut short by the worker's exit
        }
        let (from, State::Draining(draining)) = self.take_state() else {
            unreachable!("matched above");
        };
        let (stop, said) = draining.ended(&report, &self.label, &self.spec.process, os);
        self.transition_from(from, State::Stopping(stop), Event::Drained, said);
    }

    fn begin_stop(&mut self, why: StopReason, os: &dyn Processes) {
        let (from, State::Running(child)) = self.take_state() else {
            unreachable!("begin_stop is only called while running");
        };
        self.polling.stop();
        let (stop, said) = Stop::begin(child, why, &self.spec.process, os);
        self.transition_from(from, State::Stopping(stop), Event::StopRequested, said);
    }

    /// A timer fired (or a stopping worker exited): backoff over, or the stop's progress.
    pub fn on_timer(&mut self, temporal: Presence, os: &dyn Processes) -> Outcome {
        let temporal_up = temporal.allows_start();
        match &mut self.state {
            State::BackingOff(until) if Instant::now() >= *until => {
                if temporal_up {
                    return Outcome::Start;
                }
                let why = "restart delay over; waiting for Temporal";
                self.transition(State::WaitingForTemporal, Event::Timer, why);
            }
            State::Stopping(stop) => {
                let why = stop.why;
                match stop.progress(&self.label, os) {
                    Progress::Going => {}
                    Progress::Done(code) => return self.after_stop((why, code), temporal_up, os),
                    Progress::Stuck(code) => {
                        self.status.set_stuck(self.index);
                        return self.after_stop((why, code), temporal_up, os);
                    }
                }
            }
            _ => {}
        }
        Outcome::Nothing
    }

    /// A report about its pollers, while Temporal is fine: a wedged process is stopped and
    /// started again.
    pub fn on_pollers(
        &mut self,
        pid: i32,
        report: Result<PollerReport, ProbeError>,
        os: &dyn Processes,
    ) {
        match &self.state {
            State::Running(child) if child.pid.as_raw() == pid => {}
            _ => return, // a report about a process it no longer runs
        }
        let deadline = self.spec.pollers.deadline;
        let (r, wedged) = match self.polling.judge(&self.label, pid, report, deadline) {
            Verdict::Nothing => return,
            Verdict::Report(r) => (r, None),
            Verdict::Wedged(r, why) => (r, Some(why)),
        };
        self.status
            .set_polling(self.index, r.polling, r.seen, &r.findings);
        if let Some(why) = wedged {
            self.status
                .restarted(self.index, RestartReason::NotPolling, &why);
            self.begin_stop(StopReason::NotPolling, os);
        }
    }

    /// The worker process exited with `code` (its own, or 128+N for signal N).
    pub fn on_exit(&mut self, code: i32, temporal: Presence, os: &dyn Processes) -> Outcome {
        match &mut self.state {
            State::Running(child) => {
                let (pid, ran) = (child.pid.as_raw(), child.started.elapsed());
                // The worker is gone; what is left of its group goes too.
                let leftovers = os.group_alive(child.pid);
                if leftovers {
                    os.signal_group(child.pid, Signal::SIGKILL);
                }
                self.ended(os);
                info!(worker = %self.label, child_pid = pid, code, ran = %duration::format(ran), "worker exited by itself");
                if leftovers {
                    warn!(worker = %self.label, child_pid = pid, "killed what was left of the worker's process group");
                }
                if code != 0 {
                    self.link.failed(&self.label);
                }
                self.after_exit((code, ran), temporal, Event::ChildExited)
            }
            State::Stopping(stop) => {
                info!(worker = %self.label, child_pid = stop.child.pid.as_raw(), code, "worker exited");
                stop.exited(code);
                self.ended(os);
                self.on_timer(temporal, os)
            }
            State::Draining(_) => {
                let (from, State::Draining(d)) = self.take_state() else {
                    unreachable!("matched above");
                };
                let pid = d.child.pid.as_raw();
                let stop = Stop::after_exit_in_drain(d, code, &self.spec.process, os);
                let said = format!("worker (pid {pid}) exited with code {code} while draining");
                self.transition_from(from, State::Stopping(stop), Event::ChildExited, said);
                self.ended(os);
                self.on_timer(temporal, os)
            }
            _ => Outcome::Nothing,
        }
    }

    /// The process is gone: no more poller checks, the terminal back to us.
    fn ended(&mut self, os: &dyn Processes) {
        self.polling.stop();
        self.status.set_child(self.index, None, false);
        if self.at_terminal {
            os.take_terminal_back();
        }
    }

    /// It exited by itself (`code`, after running `ran`): its restart policy decides.
    fn after_exit(
        &mut self,
        (code, ran): (i32, Duration),
        temporal: Presence,
        event: Event,
    ) -> Outcome {
        let (restarts, who) = (&mut self.restarts, (self.label.as_str(), self.at_terminal));
        let after = restarts.after_exit(&self.spec, who, (code, ran), temporal);
        if after.restarted {
            let detail = format!("exited with code {code}");
            self.status
                .restarted(self.index, RestartReason::Exited, &detail);
        }
        self.transition(after.next, event, after.reason);
        after.outcome
    }

    /// The worker process and its group are gone after a stop for `why`, with `code`.
    fn after_stop(&mut self, stopped: (StopReason, i32), up: bool, os: &dyn Processes) -> Outcome {
        self.ended(os);
        let spread = self.restarts.spread();
        let p = &self.spec.process;
        let (next, reason) = self.restarts.after_stop(p, stopped, up, spread);
        self.transition(next, Event::ChildStopped, reason);
        Outcome::Nothing
    }

    /// Temporal is back after a loss at `lost_at`: a running worker must poll again within
    /// its deadline (only polls since the loss count); one waiting for Temporal (it exited,
    /// or was stopped, during the outage) starts at a random moment of the restart spread.
    pub fn temporal_back(&mut self, lost_at: SystemTime) {
        match self.state {
            State::Running(_) => {
                self.polling.temporal_back(lost_at);
                if self.polling.checked() {
                    let finding = "not seen polling since Temporal came back".to_string();
                    self.status.set_polling(self.index, false, 0, &[finding]);
                }
            }
            State::WaitingForTemporal => self.start_spread(Event::TemporalBack, "Temporal is back"),
            _ => {}
        }
    }

    /// A probe started at `since` found Temporal well: an exit before it is restarted by its
    /// policy; a start held while Temporal was in doubt happens, spread over the restart
    /// spread (many supervisors may have doubted at once).
    pub fn temporal_confirmed(&mut self, since: Instant) -> Outcome {
        match self.state {
            State::Confirming { code, ran, exited } if exited <= since => {
                self.after_exit((code, ran), Presence::There, Event::TemporalConfirmed)
            }
            State::WaitingForTemporal => {
                self.start_spread(Event::TemporalConfirmed, "a probe found Temporal there");
                Outcome::Nothing
            }
            _ => Outcome::Nothing,
        }
    }

    /// Temporal is in doubt or lost (`temporal`): an exit waiting for a check is held until
    /// Temporal is there, without growing its crash-loop delay.
    pub fn temporal_doubted(&mut self, temporal: Presence) -> Outcome {
        let event = match temporal {
            Presence::Lost => Event::TemporalLost,
            _ => Event::TemporalSuspect,
        };
        match self.state {
            State::Confirming { code, ran, .. } => self.after_exit((code, ran), temporal, event),
            _ => Outcome::Nothing,
        }
    }

    /// A worker waiting for Temporal starts at a random moment of the restart spread, so that
    /// a fleet of supervisors that saw the same outage does not start its workers in step.
    fn start_spread(&mut self, event: Event, why: &str) {
        let after = self.restarts.spread();
        let reason = format!("{why}; starting the worker in {}", duration::format(after));
        self.transition(State::BackingOff(Instant::now() + after), event, reason);
    }
}
