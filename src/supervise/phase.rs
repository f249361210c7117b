//! Where `run` stands, as one value: Temporal as the runner sees it and whether `run` is ending
//! are one [`Phase`], not loose flags. What the endpoints report as the supervisor's state
//! ([`RunState`]) follows from the phase alone ([`Phase::reported`]); the runner enters a phase
//! through one function, which logs the transition.
//!
//! ```text
//!   Waiting ── ready ──▶ Up ── doubt ──▶ Suspect ── a good probe ──▶ Up
//!                        │               (lost: as from Up)
//!                        ├── lost, ignore ──▶ Ignoring ── back ──▶ Up
//!                        ├── lost, keep ────▶ Lost ── ready ──▶ Up
//!                        ├── lost, restart ─▶ Stopping ── all stopped ──▶ Stopped
//!                        │                    (either ── ready ──▶ Up)
//!                        └── lost, exit ────▶ Ending
//!
//!   SIGTERM or SIGINT: Draining (workers with an endpoint drain first), else Ending
//!   a worker failed for good, or every worker ended: Ending
//! ```
//!
//! | phase | reported | what holds |
//! |---|---|---|
//! | `Waiting` | `waiting-for-temporal` | the gate waits for Temporal the first time |
//! | `Up` | `running` | ready; the monitor watches it |
//! | `Suspect` | `running` | the monitor doubts it: no worker starts again until a probe finds it well |
//! | `Ignoring` | `running` | lost with `--on-disconnect ignore`: the workers run on; the monitor says when it is back |
//! | `Lost` | `temporal-lost` | lost (`keep`): the workers are kept, the gate waits for it without a limit |
//! | `Stopping` | `stopping` | lost (`restart`): every worker is being stopped until it is back |
//! | `Stopped` | `waiting-for-temporal` | lost (`restart`), every worker stopped: the gate waits for it |
//! | `Ending` | `stopping` | `run` ends: every worker is stopped, then it exits |
//! | `Draining` | `draining` | `run` ends on a signal, the workers with an endpoint drained before their stop signal |
//!
//! Once Temporal was ready, an outage never ends `run` by itself: it waits for Temporal
//! without a limit (`--max-retries` and `--timeout` bound the first wait only), unless
//! `--on-disconnect exit` hands the loss to the orchestrator. Once `run` is ending, Temporal's
//! changes no longer matter: nothing starts again.

use std::time::SystemTime;

use nix::sys::signal::Signal;
use tokio::time::Instant;

use tracing::warn;

use crate::config::OnDisconnect;
use crate::serve::status::RunState;
use crate::supervise::ending::Ending;

/// When Temporal was lost after it was ready.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// For the poller checks: only polls since the loss count after its return.
    pub at: SystemTime,
    /// For the outage's length, said on its return.
    pub since: Instant,
}

impl Loss {
    pub fn now() -> Loss {
        Loss {
            at: SystemTime::now(),
            since: Instant::now(),
        }
    }
}

/// What a worker about to be started again may count on about Temporal, as the runner knows
/// it ([`Phase::presence`]).
///
/// Doubt is the monitor's word between a broken health watch (or a failed probe) and either
/// a good probe or the loss: no worker starts again meanwhile, exactly as during a loss, and
/// a worker that exits by itself while Temporal seems up waits for a probe made after its
/// exit before its restart is decided. `--on-disconnect ignore` holds nothing, in doubt as in
/// a loss.
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

/// Where `run` stands (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// The gate waits for Temporal the first time.
    Waiting,
    /// Ready; the monitor watches it.
    Up,
    /// Ready, but the monitor doubts it (its health watch ended or a probe failed), and has
    /// not yet found it lost: no worker starts again until a probe finds it well.
    Suspect,
    /// Lost at `lost_at` with `--on-disconnect ignore`: the workers run on as if it were up,
    /// and the monitor goes on watching until it is back.
    Ignoring { lost_at: SystemTime },
    /// Lost (`--on-disconnect keep`): the workers are kept (their SDKs reconnect by
    /// themselves); the gate waits for it again, without a limit.
    Lost(Loss),
    /// Lost with `--on-disconnect restart`: every worker is being stopped until it is back.
    Stopping(Loss),
    /// Lost with `--on-disconnect restart`, and every worker stopped: the gate waits for it.
    Stopped(Loss),
    /// `run` ends, for this reason: every worker is stopped, then it exits.
    Ending(Ending),
    /// `run` ends on this signal, and the workers with an endpoint are drained before their
    /// stop signal.
    Draining(Signal),
}

impl Phase {
    /// Every phase, by name: the legal states of `run`.
    pub const NAMES: [&'static str; 9] = [
        "waiting", "up", "suspect", "ignoring", "lost", "stopping", "stopped", "ending", "draining",
    ];

    pub fn name(self) -> &'static str {
        let i = match self {
            Phase::Waiting => 0,
            Phase::Up => 1,
            Phase::Suspect => 2,
            Phase::Ignoring { .. } => 3,
            Phase::Lost(_) => 4,
            Phase::Stopping(_) => 5,
            Phase::Stopped(_) => 6,
            Phase::Ending(_) => 7,
            Phase::Draining(_) => 8,
        };
        Phase::NAMES[i]
    }

    /// The supervisor's state as the endpoints report it.
    pub fn reported(self) -> RunState {
        match self {
            Phase::Waiting | Phase::Stopped(_) => RunState::WaitingForTemporal,
            Phase::Up | Phase::Suspect | Phase::Ignoring { .. } => RunState::Running,
            Phase::Lost(_) => RunState::TemporalLost,
            Phase::Stopping(_) | Phase::Ending(_) => RunState::Stopping,
            Phase::Draining(_) => RunState::Draining,
        }
    }

    /// Why `run` is ending, once it is.
    pub fn ending(self) -> Option<Ending> {
        match self {
            Phase::Ending(ending) => Some(ending),
            Phase::Draining(signal) => Some(Ending::Signal(signal)),
            _ => None,
        }
    }

    /// The loss the gate is waiting to see the end of.
    pub fn loss(self) -> Option<Loss> {
        match self {
            Phase::Lost(loss) | Phase::Stopping(loss) | Phase::Stopped(loss) => Some(loss),
            _ => None,
        }
    }

    /// The phase a `loss` leads to with `--on-disconnect` `mode` while `run` goes on, and the
    /// line that says so: keep the workers and wait for Temporal (the default), stop them and
    /// wait, stop them and exit 69, or only say so.
    pub fn after_loss(mode: OnDisconnect, loss: Loss) -> (Phase, &'static str) {
        match mode {
            OnDisconnect::Ignore => {
                warn!("Temporal lost; keeping the workers running (--on-disconnect ignore)");
                (Phase::Ignoring { lost_at: loss.at }, "the workers run on")
            }
            OnDisconnect::Keep => (
                Phase::Lost(loss),
                "Temporal lost; keeping the workers (their SDKs reconnect by themselves) and \
                 waiting for it without a limit",
            ),
            OnDisconnect::Exit => (
                Phase::Ending(Ending::TemporalLost),
                "Temporal lost; stopping every worker, then exiting 69 (--on-disconnect exit)",
            ),
            OnDisconnect::Restart => (
                Phase::Stopping(loss),
                "Temporal lost; stopping every worker until it is back (--on-disconnect \
                 restart), waiting for it without a limit",
            ),
        }
    }

    /// Whether poller reports count: Temporal is up as far as the runner knows (a loss
    /// ignored included), and `run` goes on.
    pub fn judges_pollers(self) -> bool {
        matches!(self, Phase::Up | Phase::Ignoring { .. })
    }

    /// What a worker about to start again may count on about Temporal; `ignores_losses` with
    /// `--on-disconnect ignore`, where nothing waits for Temporal.
    pub fn presence(self, ignores_losses: bool) -> Presence {
        match self {
            Phase::Up if ignores_losses => Presence::There,
            Phase::Up => Presence::Up,
            Phase::Ignoring { .. } => Presence::There,
            Phase::Suspect => Presence::Doubted,
            Phase::Waiting
            | Phase::Lost(_)
            | Phase::Stopping(_)
            | Phase::Stopped(_)
            | Phase::Ending(_)
            | Phase::Draining(_) => Presence::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each phase; the match makes a new phase a compile error until it is listed here.
    fn every_phase() -> Vec<Phase> {
        let loss = Loss::now();
        let all = vec![
            Phase::Waiting,
            Phase::Up,
            Phase::Suspect,
            Phase::Ignoring { lost_at: loss.at },
            Phase::Lost(loss),
            Phase::Stopping(loss),
            Phase::Stopped(loss),
            Phase::Ending(Ending::WorkersDone),
            Phase::Draining(Signal::SIGTERM),
        ];
        for phase in &all {
            match phase {
                Phase::Waiting
                | Phase::Up
                | Phase::Suspect
                | Phase::Ignoring { .. }
                | Phase::Lost(_)
                | Phase::Stopping(_)
                | Phase::Stopped(_)
                | Phase::Ending(_)
                | Phase::Draining(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_phase_is_listed_and_reports_its_state() {
        let table: Vec<_> = every_phase()
            .into_iter()
            .map(|p| (p.name(), p.reported().name(), p.ending().is_some()))
            .collect();
        assert_eq!(
            table,
            [
                ("waiting", "waiting-for-temporal", false),
                ("up", "running", false),
                ("suspect", "running", false),
                ("ignoring", "running", false),
                ("lost", "temporal-lost", false),
                ("stopping", "stopping", false),
                ("stopped", "waiting-for-temporal", false),
                ("ending", "stopping", true),
                ("draining", "draining", true),
            ]
        );
        let names: Vec<_> = table.iter().map(|(name, ..)| *name).collect();
        assert_eq!(names, Phase::NAMES);
    }

    #[test]
    fn only_an_unheld_temporal_lets_a_worker_start() {
        let starts: Vec<_> = every_phase()
            .into_iter()
            .filter(|p| p.presence(false).allows_start())
            .map(Phase::name)
            .collect();
        assert_eq!(starts, ["up", "ignoring"]);
    }
}
