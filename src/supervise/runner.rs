//! The runner: one Temporal for all workers. It waits for Temporal once, watches it with one
//! monitor, fans Temporal's changes and the supervisor's signals out to every worker process
//! ([`Replica`]), hands each its own exits, and decides when `run` ends and with what code.
//! Where `run` stands is one [`Phase`] (see [`super::phase`] for the phases and the state each
//! reports); what Temporal's changes do to the workers is in [`super::outage`].
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

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{WorkerSpec, workers};
use crate::endpoint::{DrainReport, Endpoint, Heard};
use crate::process::terminal;
use crate::supervise::launch::Launch;
use crate::supervise::phase::Phase;
use crate::supervise::worker::{Outcome, Replica, StopReason};
use crate::temporal::poller_watch::PollerEvent;

/// Why `run` is ending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
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
    /// Ask the monitor for a probe at once: a worker's restart waits for it.
    CheckTemporal,
    Exit(u8),
}

pub struct Runner<'a> {
    pub launch: Launch<'a>,
    pub replicas: Vec<Replica>,
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
        let phase = Phase::Waiting;
        launch.status.report().state = phase.reported();
        Ok(Runner {
            launch,
            replicas,
            phase,
            check_wanted: false,
        })
    }

    /// After an event: is `run` over, should it wait for Temporal, or ask for a check?
    pub(super) fn next(&mut self) -> Next {
        match self.check_end() {
            Next::Continue if std::mem::take(&mut self.check_wanted) => Next::CheckTemporal,
            other => other,
        }
    }

    /// Where `run` stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Enters the phase `to` on `event`: the status reports its state, and one line says so
    /// with the reason (at info when the reported state changes, else at debug).
    pub(super) fn enter(&mut self, to: Phase, event: &'static str, reason: &str) {
        let from = std::mem::replace(&mut self.phase, to);
        let (state, previous) = (to.reported(), from.reported());
        self.launch.status.report().state = state;
        if state != previous {
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

    /// The earliest timer of any worker.
    pub fn timer(&self) -> Option<Instant> {
        self.replicas.iter().filter_map(Replica::timer).min()
    }

    /// SIGTERM or SIGINT: stop every worker in parallel, then exit.
    pub fn stop_requested(&mut self, signal: Signal) -> Next {
        let why = match signal {
            Signal::SIGINT => "SIGINT received",
            _ => "SIGTERM received",
        };
        let first = self.phase.ending().is_none();
        for replica in &mut self.replicas {
            replica.stop(StopReason::Shutdown(why), &self.launch);
        }
        if first {
            let draining = self.replicas.iter().any(Replica::is_draining);
            let (to, words) = if draining {
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
            self.enter(to, "stop-requested", &format!("{why}: {words}"));
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
        self.collect_exits();
        self.next()
    }

    fn collect_exits(&mut self) {
        let pids: Vec<_> = self.replicas.iter().filter_map(Replica::pid).collect();
        let reaped = self.launch.os.reap(&pids);
        for &(pid, signal) in &reaped.stopped {
            if self.launch.take_terminal && terminal::is_job_stop(signal) {
                self.stop_with_worker(pid, signal);
            }
        }
        for (pid, code) in reaped.exits {
            if let Some(i) = self.replicas.iter().position(|r| r.pid() == Some(pid)) {
                let temporal = self.presence();
                let outcome = self.replicas[i].on_exit(code, temporal, &self.launch);
                self.on_outcome(i, outcome);
            }
        }
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

    /// SIGTSTP to the supervisor while its one worker holds the terminal: Ctrl-Z typed as the
    /// worker was being given the terminal, or `kill -TSTP`. The worker's group is stopped as
    /// the terminal would have stopped it, and its stop stops the supervisor too ([`reap`]),
    /// so that the shell's job stops and continues as one; with no worker, the supervisor
    /// stops itself, as the signal's default would.
    ///
    /// [`reap`]: Runner::reap
    pub fn job_stop(&self) -> Next {
        match self.replicas.iter().find_map(Replica::pid) {
            Some(pid) => {
                info!(
                    child_pid = pid.as_raw(),
                    "SIGTSTP received; stopping the worker's process group, which holds the \
                     terminal"
                );
                self.launch.os.signal_group(pid, Signal::SIGTSTP);
            }
            None => {
                info!("SIGTSTP received with no worker running; stopping until continued");
                crate::logging::flush(std::time::Duration::from_millis(200));
                self.launch.os.stop_self();
                info!("continued");
            }
        }
        Next::Continue
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
            if self.replicas[i].timer().is_some_and(|t| t <= now) {
                let temporal = self.presence();
                let outcome = self.replicas[i].on_timer(temporal, &self.launch);
                self.on_outcome(i, outcome);
            }
        }
        self.next()
    }

    pub fn on_pollers(&mut self, (index, pid, report): PollerEvent) -> Next {
        if !self.phase.judges_pollers() {
            return Next::Continue;
        }
        if let Some(replica) = self.replicas.iter_mut().find(|r| r.index == index) {
            replica.on_pollers(pid, report, &self.launch);
        }
        self.check_end()
    }

    pub(super) fn on_outcome(&mut self, i: usize, outcome: Outcome) {
        let optional = self.replicas[i].spec.optional;
        let code = match outcome {
            Outcome::Nothing => return,
            Outcome::CheckTemporal => {
                self.check_wanted = true;
                return;
            }
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
        if self.phase.ending().is_none() {
            let label = self.replicas[i].label.clone();
            self.enter(
                Phase::Ending(Ending::Worker(code)),
                "worker-ended",
                &format!("worker {label} ended with code {code}; stopping the others"),
            );
            for replica in &mut self.replicas {
                replica.stop(StopReason::Shutdown("another worker ended"), &self.launch);
            }
        }
    }
}
