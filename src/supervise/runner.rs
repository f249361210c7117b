//! The runner: one Temporal for all workers. It waits for Temporal once, watches it with one
//! monitor, fans Temporal's changes and the supervisor's signals out to every worker process
//! ([`Replicas`]), hands each its own exits, and decides when `run` ends and with what code
//! ([`Ending`]). Where `run` stands is one [`Phase`] (see [`super::phase`] for the phases, the
//! state each reports, and what an outage does).

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{OnDisconnect, WorkerSpec};
use crate::endpoint::{DrainReport, Endpoint, Heard};
use crate::serve::states::RestartReason;
use crate::supervise::Next;
pub use crate::supervise::ending::Ending;
use crate::supervise::event::Event;
use crate::supervise::launch::Launch;
use crate::supervise::phase::{Loss, Phase, Presence};
use crate::supervise::replicas::Replicas;
use crate::supervise::state::State;
use crate::supervise::worker::{Outcome, StopReason};
use crate::temporal::poller_watch::PollerEvent;

pub struct Runner<'a> {
    pub launch: Launch<'a>,
    pub replicas: Replicas,
    /// Where `run` stands; the state the status reports follows from it, set by
    /// [`Runner::enter`] alone.
    phase: Phase,
    /// A worker's restart waits for a fresh check of Temporal, not asked for yet.
    check_wanted: bool,
}

impl<'a> Runner<'a> {
    /// One replica per worker process of the configuration, each added to the status, with
    /// the local endpoint `endpoint` gives it (listening already, so that a port in use fails
    /// before anything waits).
    pub fn new(
        launch: Launch<'a>,
        endpoint: impl FnMut(&WorkerSpec, (&str, usize)) -> Result<Option<Endpoint>, String>,
    ) -> Result<Runner<'a>, String> {
        let replicas = Replicas::new(&launch, endpoint)?;
        let phase = Phase::Waiting;
        launch.status.set_state(phase.reported());
        Ok(Runner {
            launch,
            replicas,
            phase,
            check_wanted: false,
        })
    }

    /// Enters the phase `to` on `event`: the status reports its state, and one line says so
    /// with the reason, at info; at debug only for doubt coming and going while the reported
    /// state stays the same (a failed probe or an ended health watch, not yet a loss).
    fn enter(&mut self, to: Phase, event: Event, reason: &str) {
        let from = std::mem::replace(&mut self.phase, to);
        let (state, previous) = (to.reported(), from.reported());
        self.launch.status.set_state(state);
        let doubt = matches!(event, Event::TemporalSuspect | Event::TemporalConfirmed);
        let event = event.as_str();
        if state != previous || !doubt {
            info!(
                state = state.name(),
                previous = previous.name(),
                event,
                "{reason}"
            );
        } else {
            debug!(
                phase = to.name(),
                previous_phase = from.name(),
                event,
                "{reason}"
            );
        }
    }

    /// After an event: is `run` over, should it wait for Temporal, or ask for a check?
    fn next(&mut self) -> Next {
        match self.check_end() {
            Next::Continue if std::mem::take(&mut self.check_wanted) => Next::CheckTemporal,
            other => other,
        }
    }

    /// After every event: is `run` over? Every non-optional worker done ends it; with
    /// `--on-disconnect restart`, the last worker stopped for a loss is said.
    fn check_end(&mut self) -> Next {
        if self.phase.ending().is_none() && self.replicas.all_done() {
            let to = Phase::Ending(Ending::WorkersDone);
            self.enter(to, Event::WorkersDone, "every worker has ended");
            let why = StopReason::Shutdown("every other worker ended");
            self.replicas.stop_all(why, self.launch.os);
        }
        let running = self.replicas.running();
        match self.phase {
            _ if running => {}
            Phase::Stopping(loss) => self.enter(
                Phase::Stopped(loss),
                Event::WorkersStopped,
                "every worker stopped; waiting for Temporal to come back",
            ),
            phase => {
                if let Some(ending) = phase.ending() {
                    return Next::Exit(ending.exit_code(|| self.replicas.first_failure()));
                }
            }
        }
        Next::Continue
    }

    /// The earliest timer of any worker.
    pub fn timer(&self) -> Option<Instant> {
        self.replicas.timer()
    }

    /// SIGTERM or SIGINT: stop every worker in parallel, then exit.
    pub fn stop_requested(&mut self, signal: Signal) -> Next {
        let why = match signal {
            Signal::SIGINT => "SIGINT received",
            _ => "SIGTERM received",
        };
        let first = self.phase.ending().is_none();
        self.replicas
            .stop_all(StopReason::Shutdown(why), self.launch.os);
        if first {
            let (to, words) = if self
                .replicas
                .iter()
                .any(|r| matches!(r.state(), State::Draining(_)))
            {
                (
                    Phase::Draining(signal),
                    "stopping every worker, each drained first",
                )
            } else {
                (
                    Phase::Ending(Ending::Signal(signal)),
                    "stopping every worker",
                )
            };
            self.enter(to, Event::StopRequested, &format!("{why}: {words}"));
        }
        self.check_end()
    }

    /// A worker's endpoint heard something its replica must act on.
    pub fn on_heard(&mut self, index: usize, heard: Heard) -> Next {
        if let Some(replica) = self.replicas.at(index) {
            match heard {
                Heard::TlsHello => replica.speaks_tls(self.launch.os),
            }
        }
        self.check_end()
    }

    /// A worker's drain ended: it gets the stop signal now.
    pub fn on_drained(&mut self, index: usize, report: DrainReport) -> Next {
        if let Some(replica) = self.replicas.at(index) {
            replica.on_drained(report, self.launch.os);
        }
        self.check_end()
    }

    pub fn forward(&self, signal: Signal) {
        self.replicas.forward(signal, self.launch.os);
    }

    /// SIGTSTP: see [`Replicas::job_stop`].
    pub fn job_stop(&self) -> Next {
        self.replicas.job_stop(self.launch.os);
        Next::Continue
    }

    /// SIGCHLD: reap every exited process and hand each worker's exit to it.
    pub fn reap(&mut self) -> Next {
        self.collect_exits();
        self.next()
    }

    fn collect_exits(&mut self) {
        let exits = self
            .replicas
            .reap(self.launch.os, self.launch.take_terminal);
        for (pid, code) in exits {
            if let Some(i) = self
                .replicas
                .iter()
                .position(|r| r.state().pid() == Some(pid))
            {
                let temporal = self.presence();
                let outcome = self.replicas[i].on_exit(code, temporal, self.launch.os);
                self.on_outcome(i, outcome);
            }
        }
    }

    pub fn on_timer(&mut self) -> Next {
        // Exits first: a stopping worker's timer asks whether its group is gone, and a zombie
        // still counts until reaped.
        self.collect_exits();
        match self.check_end() {
            Next::Continue => {}
            other => return other,
        }
        let now = Instant::now();
        for i in 0..self.replicas.len() {
            if self.replicas[i].state().timer().is_some_and(|t| t <= now) {
                let temporal = self.presence();
                let outcome = self.replicas[i].on_timer(temporal, self.launch.os);
                self.on_outcome(i, outcome);
            }
        }
        self.next()
    }

    pub fn on_pollers(&mut self, (index, pid, report): PollerEvent) -> Next {
        if !self.phase.judges_pollers() {
            return Next::Continue;
        }
        if let Some(replica) = self.replicas.at(index) {
            replica.on_pollers(pid, report, self.launch.os);
        }
        self.check_end()
    }

    /// What the event of the worker at `i` leads to for `run`.
    fn on_outcome(&mut self, i: usize, outcome: Outcome) {
        let replica = &self.replicas[i];
        let code = match outcome {
            Outcome::CheckTemporal => {
                self.check_wanted = true;
                return;
            }
            Outcome::Start => {
                let outcome = self.replicas[i].start(&self.launch);
                return self.on_outcome(i, outcome);
            }
            Outcome::Ended { code, .. } | Outcome::CannotStart { code }
                if replica.spec.optional && code != 0 =>
            {
                warn!(worker = %replica.label, code, "optional worker ended; run goes on");
                return;
            }
            outcome => match outcome.ends_run(replica.spec.optional) {
                Some(code) => code,
                None => return,
            },
        };
        if self.phase.ending().is_none() {
            let label = &replica.label;
            let reason = format!("worker {label} ended with code {code}; stopping the others");
            self.enter(
                Phase::Ending(Ending::Worker(code)),
                Event::WorkerEnded,
                &reason,
            );
            let why = StopReason::Shutdown("another worker ended");
            self.replicas.stop_all(why, self.launch.os);
        }
    }

    /// The gate found Temporal ready: the first time, every worker starts; after an outage,
    /// the workers kept must poll again and those that exited start, spread out. Once `run`
    /// is ending, nothing starts.
    pub fn temporal_ready(&mut self) -> Next {
        self.launch.status.set_temporal_up(true);
        self.launch.status.first_ready();
        match self.phase.loss() {
            _ if self.phase.ending().is_some() => {}
            None => {
                self.enter(
                    Phase::Up,
                    Event::TemporalReady,
                    "running; watching Temporal",
                );
                for i in 0..self.replicas.len() {
                    if matches!(self.replicas[i].state(), State::WaitingForTemporal) {
                        let outcome = self.replicas[i].start(&self.launch);
                        self.on_outcome(i, outcome);
                    }
                }
            }
            Some(loss) => {
                let outage = crate::duration::format(loss.since.elapsed());
                let reason = format!("Temporal is back after {outage}; watching it again");
                self.enter(Phase::Up, Event::TemporalBack, &reason);
                self.replicas.back(loss.at);
            }
        }
        self.check_end()
    }

    /// The monitor lost Temporal. `--on-disconnect` decides: keep the workers and wait for
    /// it (the default), stop them and wait, stop them and exit 69, or only say so.
    pub fn temporal_lost(&mut self) -> Next {
        self.launch.status.set_temporal_up(false);
        if !self.ignores_losses() {
            self.hold_unconfirmed(Presence::Lost);
        }
        if self.phase.ending().is_some() {
            // Ending anyway: the workers are already being stopped, and the code stands.
            return match self.check_end() {
                Next::Continue => Next::StopWatching,
                other => other,
            };
        }
        let mode = self.launch.config.run.on_disconnect;
        let (to, reason) = Phase::after_loss(mode, Loss::now());
        self.enter(to, Event::TemporalLost, reason);
        match mode {
            OnDisconnect::Ignore => return Next::Continue,
            OnDisconnect::Keep => return Next::Wait,
            OnDisconnect::Exit => {}
            OnDisconnect::Restart => {
                for replica in self.replicas.iter().filter(|r| r.state().has_process()) {
                    let status = &self.launch.status;
                    status.restarted(replica.index, RestartReason::TemporalLost, "Temporal lost");
                }
            }
        }
        self.replicas
            .stop_all(StopReason::TemporalLost, self.launch.os);
        match self.check_end() {
            Next::Continue if self.phase.ending().is_none() => Next::Wait,
            Next::Continue => Next::StopWatching,
            other => other,
        }
    }

    /// With `--on-disconnect ignore`, the monitor itself saw Temporal come back.
    pub fn temporal_back(&mut self) {
        self.launch.status.set_temporal_up(true);
        info!("Temporal is back");
        if let Phase::Ignoring { lost_at } = self.phase {
            self.enter(
                Phase::Up,
                Event::TemporalBack,
                "the workers must poll again",
            );
            self.replicas.back(lost_at);
        }
    }

    /// The monitor doubts Temporal (its health watch ended or a probe failed): no worker
    /// starts again until a probe finds it well, or until it is back after the loss.
    pub fn temporal_suspect(&mut self) -> Next {
        if self.phase != Phase::Up || self.ignores_losses() {
            return Next::Continue;
        }
        self.enter(
            Phase::Suspect,
            Event::TemporalSuspect,
            "Temporal in doubt; no worker starts again until a probe finds it there",
        );
        self.hold_unconfirmed(Presence::Doubted);
        self.next()
    }

    /// A probe started at `since` found Temporal well: restarts that waited for it are
    /// decided, and workers held while it was in doubt start, spread out.
    pub fn temporal_confirmed(&mut self, since: Instant) -> Next {
        let watching = matches!(self.phase, Phase::Up | Phase::Suspect);
        if !watching || self.ignores_losses() {
            return Next::Continue;
        }
        if self.phase == Phase::Suspect {
            let reason = "a probe found Temporal there; no more doubt";
            self.enter(Phase::Up, Event::TemporalConfirmed, reason);
        }
        for i in 0..self.replicas.len() {
            let outcome = self.replicas[i].temporal_confirmed(since);
            self.on_outcome(i, outcome);
        }
        self.next()
    }

    /// Every exit waiting for a check is held until Temporal is there (`temporal`: in doubt,
    /// or lost).
    fn hold_unconfirmed(&mut self, temporal: Presence) {
        for i in 0..self.replicas.len() {
            let outcome = self.replicas[i].temporal_doubted(temporal);
            self.on_outcome(i, outcome);
        }
    }

    /// `--on-disconnect ignore`: Temporal's changes hold no start.
    fn ignores_losses(&self) -> bool {
        self.launch.config.run.on_disconnect == OnDisconnect::Ignore
    }

    /// What a worker about to start again may count on about Temporal.
    fn presence(&self) -> Presence {
        self.phase.presence(self.ignores_losses())
    }
}
