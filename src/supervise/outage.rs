//! Temporal's changes, as the runner fans them out to the workers: ready (the first time, or
//! back after a loss), in doubt, confirmed, lost.
//!
//! Doubt is the monitor's word between a broken health watch (or a failed probe) and either
//! a good probe or the loss: no worker starts again meanwhile, exactly as during a loss, and
//! a worker that exits by itself while Temporal seems up waits for a probe made after its
//! exit ([`Next::CheckTemporal`]) before its restart is decided. `--on-disconnect ignore`
//! holds nothing, in doubt as in a loss.

use std::time::SystemTime;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::OnDisconnect;
use crate::duration;
use crate::supervise::launch::Launch;
use crate::supervise::phase::{Loss, Phase};
use crate::supervise::policy;
use crate::supervise::runner::{Ending, Next, Runner};
use crate::supervise::worker::{Outcome, Replica, State, StopReason};

/// What a worker about to be started again may count on about Temporal, as the runner knows
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Up, as far as the runner knows: an exit asks for a fresh check before its restart, as
    /// the worker may have been the first to see Temporal go.
    Up,
    /// There: a probe made since the exit found it well (or `--on-disconnect ignore` takes it
    /// so, or the exit had nothing to do with it).
    There,
    /// In doubt (the health watch ended or a probe failed): a start waits until a probe finds
    /// it well, or for its return after the loss.
    Doubted,
    /// Lost (or `run` is ending): a start waits for its return.
    Lost,
}

impl Presence {
    /// Whether a worker whose restart delay is over may start now.
    pub fn allows_start(self) -> bool {
        matches!(self, Presence::Up | Presence::There)
    }
}

impl Replica {
    /// Temporal is back after a loss at `lost_at`: a running worker must poll again within
    /// its deadline (only polls since the loss count); one waiting for Temporal (it exited,
    /// or was stopped, during the outage) starts at a random moment of the restart spread.
    pub fn temporal_back(&mut self, lost_at: SystemTime, l: &Launch) {
        match self.state {
            State::Running(_) => {
                self.polling.temporal_back(lost_at);
                if self.polling.checked() {
                    l.status.set_polling(
                        self.index,
                        false,
                        0,
                        &["not seen polling since Temporal came back".into()],
                    );
                }
            }
            State::WaitingForTemporal => self.start_spread("temporal-back", "Temporal is back", l),
            _ => {}
        }
    }

    /// A probe started at `since` found Temporal well: an exit before it is restarted by its
    /// policy; a start held while Temporal was in doubt happens, spread over the restart
    /// spread (many supervisors may have doubted at once).
    pub fn temporal_confirmed(&mut self, since: Instant, l: &Launch) -> Outcome {
        match self.state {
            State::Confirming { code, ran, exited } if exited <= since => {
                self.after_exit(code, ran, Presence::There, "temporal-confirmed", l)
            }
            State::WaitingForTemporal => {
                self.start_spread("temporal-confirmed", "a probe found Temporal there", l);
                Outcome::Nothing
            }
            _ => Outcome::Nothing,
        }
    }

    /// Temporal is in doubt or lost (`temporal`): an exit waiting for a check is held until
    /// Temporal is there, without growing its crash-loop delay.
    pub fn temporal_doubted(&mut self, temporal: Presence, l: &Launch) -> Outcome {
        let event = match temporal {
            Presence::Lost => "temporal-lost",
            _ => "temporal-suspect",
        };
        match self.state {
            State::Confirming { code, ran, .. } => self.after_exit(code, ran, temporal, event, l),
            _ => Outcome::Nothing,
        }
    }

    /// A worker waiting for Temporal starts at a random moment of the restart spread, so that
    /// a fleet of supervisors that saw the same outage does not start its workers in step.
    fn start_spread(&mut self, event: &'static str, why: &str, l: &Launch) {
        let after = policy::spread(l.config.run.restart_spread, fastrand::f64());
        self.transition(
            State::BackingOff(Instant::now() + after),
            event,
            format!("{why}; starting the worker in {}", duration::format(after)),
            l,
        );
    }
}

impl Runner<'_> {
    /// The gate found Temporal ready: the first time, every worker starts; after an outage,
    /// the workers kept must poll again and those that exited start, spread out. Once `run`
    /// is ending, nothing starts.
    pub fn temporal_ready(&mut self) -> Next {
        self.launch.status.set_temporal_up(true);
        self.launch.status.first_ready();
        let phase = self.phase();
        match phase.loss() {
            _ if phase.ending().is_some() => {}
            None => {
                self.enter(Phase::Up, "temporal-ready", "running; watching Temporal");
                for i in 0..self.replicas.len() {
                    if self.replicas[i].is_waiting() {
                        let outcome = self.replicas[i].start(&self.launch);
                        self.on_outcome(i, outcome);
                    }
                }
            }
            Some(loss) => {
                let outage = crate::duration::format(loss.since.elapsed());
                self.enter(
                    Phase::Up,
                    "temporal-back",
                    &format!("Temporal is back after {outage}; watching it again"),
                );
                self.back(loss.at);
            }
        }
        self.check_end()
    }

    /// Every worker learns that Temporal is back after a loss at `lost_at`.
    fn back(&mut self, lost_at: SystemTime) {
        for replica in &mut self.replicas {
            replica.temporal_back(lost_at, &self.launch);
        }
    }

    /// The monitor lost Temporal. `--on-disconnect` decides: keep the workers and wait for
    /// it (the default), stop them and wait, stop them and exit 69, or only say so.
    pub fn temporal_lost(&mut self) -> Next {
        self.launch.status.set_temporal_up(false);
        if !self.ignores_losses() {
            self.hold_unconfirmed(Presence::Lost);
        }
        if self.phase().ending().is_some() {
            // Ending anyway: the workers are already being stopped, and the code stands.
            return match self.check_end() {
                Next::Continue => Next::StopWatching,
                other => other,
            };
        }
        let loss = Loss::now();
        match self.launch.config.run.on_disconnect {
            OnDisconnect::Ignore => {
                warn!("Temporal lost; keeping the workers running (--on-disconnect ignore)");
                let to = Phase::Ignoring { lost_at: loss.at };
                self.enter(to, "temporal-lost", "the workers run on");
                return Next::Continue;
            }
            OnDisconnect::Keep => {
                self.enter(
                    Phase::Lost(loss),
                    "temporal-lost",
                    "Temporal lost; keeping the workers (their SDKs reconnect by themselves) \
                     and waiting for it without a limit",
                );
                return Next::Wait;
            }
            OnDisconnect::Exit => {
                self.enter(
                    Phase::Ending(Ending::TemporalLost),
                    "temporal-lost",
                    "Temporal lost; stopping every worker, then exiting 69 (--on-disconnect exit)",
                );
            }
            OnDisconnect::Restart => {
                self.enter(
                    Phase::Stopping(loss),
                    "temporal-lost",
                    "Temporal lost; stopping every worker until it is back (--on-disconnect \
                     restart), waiting for it without a limit",
                );
                for replica in &self.replicas {
                    if replica.has_process() {
                        self.launch.status.restarted(
                            replica.index,
                            "temporal-lost",
                            "Temporal lost",
                        );
                    }
                }
            }
        }
        for replica in &mut self.replicas {
            replica.stop(StopReason::TemporalLost, &self.launch);
        }
        match self.check_end() {
            Next::Continue if self.phase().ending().is_none() => Next::Wait,
            Next::Continue => Next::StopWatching,
            other => other,
        }
    }

    /// With `--on-disconnect ignore`, the monitor itself saw Temporal come back.
    pub fn temporal_back(&mut self) {
        self.launch.status.set_temporal_up(true);
        info!("Temporal is back");
        if let Phase::Ignoring { lost_at } = self.phase() {
            self.enter(Phase::Up, "temporal-back", "the workers must poll again");
            self.back(lost_at);
        }
    }

    /// The monitor doubts Temporal (its health watch ended or a probe failed): no worker
    /// starts again until a probe finds it well, or until it is back after the loss.
    pub fn temporal_suspect(&mut self) -> Next {
        if self.phase() != Phase::Up || self.ignores_losses() {
            return Next::Continue;
        }
        self.enter(
            Phase::Suspect,
            "temporal-suspect",
            "Temporal in doubt; no worker starts again until a probe finds it there",
        );
        self.hold_unconfirmed(Presence::Doubted);
        self.next()
    }

    /// A probe started at `since` found Temporal well: restarts that waited for it are
    /// decided, and workers held while it was in doubt start, spread out.
    pub fn temporal_confirmed(&mut self, since: Instant) -> Next {
        let watching = matches!(self.phase(), Phase::Up | Phase::Suspect);
        if !watching || self.ignores_losses() {
            return Next::Continue;
        }
        if self.phase() == Phase::Suspect {
            self.enter(
                Phase::Up,
                "temporal-confirmed",
                "a probe found Temporal there; no more doubt",
            );
        }
        for i in 0..self.replicas.len() {
            let outcome = self.replicas[i].temporal_confirmed(since, &self.launch);
            self.on_outcome(i, outcome);
        }
        self.next()
    }

    /// Every exit waiting for a check is held until Temporal is there (`temporal`: in doubt,
    /// or lost).
    fn hold_unconfirmed(&mut self, temporal: Presence) {
        for i in 0..self.replicas.len() {
            let outcome = self.replicas[i].temporal_doubted(temporal, &self.launch);
            self.on_outcome(i, outcome);
        }
    }

    /// `--on-disconnect ignore`: Temporal's changes hold no start.
    pub(super) fn ignores_losses(&self) -> bool {
        self.launch.config.run.on_disconnect == OnDisconnect::Ignore
    }

    /// What a worker about to start again may count on about Temporal.
    pub(super) fn presence(&self) -> Presence {
        self.phase().presence(self.ignores_losses())
    }
}
