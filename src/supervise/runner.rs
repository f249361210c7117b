//! The runner: one Temporal for all workers. It waits for Temporal once, watches it with one
//! monitor, fans Temporal's changes and the supervisor's signals out to every worker process
//! ([`Replica`]), hands each its own exits, and decides when `run` ends and with what code.
//!
//! ```text
//!   WaitingForTemporal ── ready: start every worker ──▶ Running ◀──── back: the workers must
//!                                                        │    ▲       poll again; those that
//!                         lost: wait again, no limit     │    │       exited (or were stopped)
//!                         (keep: workers kept;           ▼    │       start, spread out
//!                          restart: workers stopped)   Lost ──┘
//! ```
//!
//! Once Temporal was ready, an outage never ends `run` by itself: it waits for Temporal
//! without a limit (`--max-retries` and `--timeout` bound the first wait only), unless
//! `--on-disconnect exit` hands the loss to the orchestrator.
//!
//! `run` ends when a non-optional worker fails beyond its restart policy (the others are
//! stopped gracefully; its code), on SIGTERM or SIGINT (all stopped in parallel; the first
//! non-zero code of the workers, in the order of the configuration, or 0), when every
//! non-optional worker has ended by itself (the same rule), or with 69 when Temporal never
//! became ready or was lost with `--on-disconnect exit`.

use std::sync::Arc;
use std::time::SystemTime;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{OnDisconnect, WorkerSpec, workers};
use crate::endpoint::{DrainReport, Endpoint, Heard};
use crate::process::terminal;
use crate::serve::status::RunState;
use crate::supervise::launch::Launch;
use crate::supervise::worker::{Outcome, Replica, StopReason};
use crate::temporal::poller_watch::PollerEvent;

/// Temporal, as the runner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temporal {
    /// The gate is waiting for it the first time.
    Waiting,
    /// Ready; the monitor watches it.
    Up,
    /// Lost after it was ready, at this moment; the gate waits for it again, without limit.
    Lost { at: SystemTime, since: Instant },
}

/// Why `run` is ending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ending {
    /// SIGTERM or SIGINT to the supervisor.
    Signal(Signal),
    /// A worker failed for good (or Ctrl-C ended it): its code.
    Worker(i32),
    /// Temporal lost with `--on-disconnect exit`.
    TemporalLost,
    /// Every non-optional worker ended by itself.
    WorkersDone,
}

/// What the supervisor's loop does next.
#[derive(Debug, PartialEq)]
pub enum Next {
    Continue,
    /// Stop watching Temporal and wait for it (again).
    Wait,
    /// Stop watching Temporal: it no longer matters (the workers are being stopped to end).
    StopWatching,
    Exit(u8),
}

pub struct Runner<'a> {
    pub launch: Launch<'a>,
    pub replicas: Vec<Replica>,
    pub temporal: Temporal,
    pub(super) ending: Option<Ending>,
    /// `--on-disconnect restart` is stopping every worker for a loss (said once when done).
    pub(super) stopping_for_loss: bool,
    /// When Temporal was last lost with `--on-disconnect ignore` (the runner stays `Up`).
    ignored_loss: Option<SystemTime>,
}

impl<'a> Runner<'a> {
    /// One replica per worker process of the configuration, each added to the status, with
    /// the local endpoint `endpoint` gives it (listening already, so that a port in use fails
    /// before anything waits).
    pub fn new(
        launch: Launch<'a>,
        mut endpoint: impl FnMut(&WorkerSpec, (&str, usize)) -> Result<Option<Endpoint>, String>,
    ) -> Result<Runner<'a>, String> {
        let mut replicas = Vec::new();
        for worker in &launch.config.workers {
            let spec = Arc::new(worker.clone());
            for n in 1..=worker.replicas {
                let index = launch.status.add_worker(&worker.name, n, worker.optional);
                let label = workers::label(worker, n);
                let endpoint = endpoint(worker, (&label, index))?;
                replicas.push(Replica::new(spec.clone(), n, index, endpoint));
            }
        }
        launch.status.report().state = RunState::WaitingForTemporal;
        Ok(Runner {
            launch,
            replicas,
            temporal: Temporal::Waiting,
            ending: None,
            stopping_for_loss: false,
            ignored_loss: None,
        })
    }

    pub(super) fn set_state(&self, state: RunState, event: &'static str, reason: &str) {
        let mut report = self.launch.status.report();
        let previous = report.state;
        report.state = state;
        drop(report);
        info!(
            state = state.name(),
            previous = previous.name(),
            event,
            "{reason}"
        );
    }

    /// The earliest timer of any worker.
    pub fn timer(&self) -> Option<Instant> {
        self.replicas.iter().filter_map(Replica::timer).min()
    }

    /// The gate found Temporal ready: the first time, every worker starts; after an outage,
    /// the workers kept must poll again and those that exited start, spread out.
    pub fn temporal_ready(&mut self) -> Next {
        let lost = match self.temporal {
            Temporal::Lost { at, since } => Some((at, since)),
            _ => None,
        };
        self.temporal = Temporal::Up;
        self.stopping_for_loss = false;
        self.launch.status.set_temporal_up(true);
        self.launch.status.first_ready();
        match lost {
            None => {
                self.set_state(
                    RunState::Running,
                    "temporal-ready",
                    "running; watching Temporal",
                );
                for i in 0..self.replicas.len() {
                    if self.replicas[i].is_waiting() {
                        let outcome = self.replicas[i].start(&self.launch);
                        self.on_outcome(i, outcome);
                    }
                }
            }
            Some((at, since)) => {
                if self.ending.is_none() {
                    let outage = crate::duration::format(since.elapsed());
                    self.set_state(
                        RunState::Running,
                        "temporal-back",
                        &format!("Temporal is back after {outage}; watching it again"),
                    );
                }
                self.back(at);
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
        let lost = Temporal::Lost {
            at: SystemTime::now(),
            since: Instant::now(),
        };
        if self.ending.is_some() {
            // Ending anyway: the workers are already being stopped, and the code stands.
            self.temporal = lost;
            return match self.check_end() {
                Next::Continue => Next::StopWatching,
                other => other,
            };
        }
        match self.launch.config.run.on_disconnect {
            OnDisconnect::Ignore => {
                warn!("Temporal lost; keeping the workers running (--on-disconnect ignore)");
                self.ignored_loss = Some(SystemTime::now());
                return Next::Continue;
            }
            OnDisconnect::Keep => {
                self.temporal = lost;
                self.set_state(
                    RunState::TemporalLost,
                    "temporal-lost",
                    "Temporal lost; keeping the workers (their SDKs reconnect by themselves) \
                     and waiting for it without a limit",
                );
                return Next::Wait;
            }
            OnDisconnect::Exit => {
                self.ending.get_or_insert(Ending::TemporalLost);
                self.set_state(
                    RunState::Stopping,
                    "temporal-lost",
                    "Temporal lost; stopping every worker, then exiting 69 (--on-disconnect exit)",
                );
            }
            OnDisconnect::Restart => {
                self.stopping_for_loss = true;
                self.set_state(
                    RunState::Stopping,
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
        self.temporal = lost;
        for replica in &mut self.replicas {
            replica.stop(StopReason::TemporalLost, &self.launch);
        }
        match self.check_end() {
            Next::Continue if self.ending.is_none() => Next::Wait,
            Next::Continue => Next::StopWatching,
            other => other,
        }
    }

    /// With `--on-disconnect ignore`, the monitor itself saw Temporal come back.
    pub fn temporal_back(&mut self) {
        self.launch.status.set_temporal_up(true);
        info!("Temporal is back");
        if let Some(at) = self.ignored_loss.take() {
            self.back(at);
        }
    }

    /// SIGTERM or SIGINT: stop every worker in parallel, then exit.
    pub fn stop_requested(&mut self, signal: Signal) -> Next {
        let why = match signal {
            Signal::SIGINT => "SIGINT received",
            _ => "SIGTERM received",
        };
        let first = self.ending.is_none();
        self.ending.get_or_insert(Ending::Signal(signal));
        for replica in &mut self.replicas {
            replica.stop(StopReason::Shutdown(why), &self.launch);
        }
        if first {
            let draining = self.replicas.iter().any(Replica::is_draining);
            let (state, words) = if draining {
                (
                    RunState::Draining,
                    "stopping every worker, each drained first",
                )
            } else {
                (RunState::Stopping, "stopping every worker")
            };
            self.set_state(state, "stop-requested", &format!("{why}: {words}"));
        }
        self.check_end()
    }

    /// A worker's endpoint heard something its replica must act on.
    pub fn on_heard(&mut self, index: usize, heard: Heard) -> Next {
        if let Some(replica) = self.replicas.iter_mut().find(|r| r.index == index) {
            match heard {
                Heard::TlsHello => replica.speaks_tls(&self.launch),
            }
        }
        self.check_end()
    }

    /// A worker's drain ended: it gets the stop signal now.
    pub fn on_drained(&mut self, index: usize, report: DrainReport) -> Next {
        if let Some(replica) = self.replicas.iter_mut().find(|r| r.index == index) {
            replica.on_drained(report, &self.launch);
        }
        self.check_end()
    }

    pub fn forward(&self, signal: Signal) {
        if !self.replicas.iter().any(Replica::has_process) {
            info!(
                "{} received with no worker running; ignored",
                signal.as_str()
            );
        }
        for replica in &self.replicas {
            replica.forward(signal, &self.launch);
        }
    }

    /// SIGCHLD: reap every exited process and hand each worker's exit to it.
    pub fn reap(&mut self) -> Next {
        let pids: Vec<_> = self.replicas.iter().filter_map(Replica::pid).collect();
        let reaped = self.launch.os.reap(&pids);
        for &(pid, signal) in &reaped.stopped {
            if self.launch.take_terminal && terminal::is_job_stop(signal) {
                self.stop_with_worker(pid, signal);
            }
        }
        let up = self.temporal == Temporal::Up && self.ending.is_none();
        for (pid, code) in reaped.exits {
            if let Some(i) = self.replicas.iter().position(|r| r.pid() == Some(pid)) {
                let outcome = self.replicas[i].on_exit(code, up, &self.launch);
                self.on_outcome(i, outcome);
            }
        }
        self.check_end()
    }

    /// The terminal stopped the worker that holds it (Ctrl-Z): the supervisor stops too, so
    /// that the shell gets its prompt back, and continues the worker when continued itself.
    fn stop_with_worker(&self, pid: nix::unistd::Pid, signal: Signal) {
        info!(
            child_pid = pid.as_raw(),
            "the terminal stopped the worker ({}); stopping too, until the shell continues us",
            signal.as_str()
        );
        crate::logging::flush(std::time::Duration::from_millis(200));
        self.launch.os.stop_with_worker(pid);
        info!(child_pid = pid.as_raw(), "continued; continuing the worker");
    }

    pub fn on_timer(&mut self) -> Next {
        // Exits first: a stopping worker's timer asks whether its group is gone, and a zombie
        // still counts until reaped.
        match self.reap() {
            Next::Continue => {}
            other => return other,
        }
        let now = Instant::now();
        for i in 0..self.replicas.len() {
            if self.replicas[i].timer().is_some_and(|t| t <= now) {
                let up = self.temporal == Temporal::Up && self.ending.is_none();
                let outcome = self.replicas[i].on_timer(up, &self.launch);
                self.on_outcome(i, outcome);
            }
        }
        self.check_end()
    }

    pub fn on_pollers(&mut self, (index, pid, report): PollerEvent) -> Next {
        if self.temporal != Temporal::Up || self.ending.is_some() {
            return Next::Continue;
        }
        if let Some(replica) = self.replicas.iter_mut().find(|r| r.index == index) {
            replica.on_pollers(pid, report, &self.launch);
        }
        self.check_end()
    }

    fn on_outcome(&mut self, i: usize, outcome: Outcome) {
        let optional = self.replicas[i].spec.optional;
        let code = match outcome {
            Outcome::Nothing => return,
            Outcome::Ended { code, .. } | Outcome::CannotStart { code } if optional => {
                if code != 0 {
                    warn!(worker = %self.replicas[i].label, code, "optional worker ended; run goes on");
                }
                return;
            }
            Outcome::Ended { fatal: false, .. } => return,
            Outcome::Ended { code, .. }
            | Outcome::CannotStart { code }
            | Outcome::Interrupted { code } => code,
        };
        if self.ending.is_none() {
            self.ending = Some(Ending::Worker(code));
            let label = self.replicas[i].label.clone();
            self.set_state(
                RunState::Stopping,
                "worker-ended",
                &format!("worker {label} ended with code {code}; stopping the others"),
            );
            for replica in &mut self.replicas {
                replica.stop(StopReason::Shutdown("another worker ended"), &self.launch);
            }
        }
    }
}
