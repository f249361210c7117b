//! Every worker process of `run`, in the order of the configuration: what the runner asks of
//! all of them at once, and the supervisor's job control with the one that holds the terminal.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::time::Instant;
use tracing::info;

use crate::config::WorkerSpec;
use crate::endpoint::Endpoint;
use crate::process::system::Processes;
use crate::process::terminal;
use crate::supervise::launch::{self, Launch};
use crate::supervise::link::Link;
use crate::supervise::stopping::StopReason;
use crate::supervise::worker::Replica;

pub struct Replicas(Vec<Replica>);

impl Deref for Replicas {
    type Target = Vec<Replica>;

    fn deref(&self) -> &Vec<Replica> {
        &self.0
    }
}

impl DerefMut for Replicas {
    fn deref_mut(&mut self) -> &mut Vec<Replica> {
        &mut self.0
    }
}

impl Replicas {
    /// One replica per worker process of the configuration, each added to the status, with
    /// the local endpoint `endpoint` gives it (listening already, so that a port in use fails
    /// before anything waits).
    pub fn new(
        launch: &Launch,
        mut endpoint: impl FnMut(&WorkerSpec, (&str, usize)) -> Result<Option<Endpoint>, String>,
    ) -> Result<Replicas, String> {
        let mut replicas = Vec::new();
        let mut spec = None;
        for (worker, n, label) in launch::processes(launch.config) {
            if n == 1 {
                spec = Some(Arc::new(worker.clone()));
            }
            let spec = spec.clone().expect("replica 1 comes first");
            let status = &launch.status;
            let index = status.add_worker((&worker.name, n), &label, worker.optional);
            let drains = |e| (e, launch.drain_reports.clone());
            let link = Link::new(endpoint(worker, (&label, index))?.map(drains));
            let run = (launch.take_terminal, launch.config.run.restart_spread);
            let slot = (status.clone(), index);
            replicas.push(Replica::new(spec, (n, label), slot, run, link));
        }
        Ok(Replicas(replicas))
    }

    /// The earliest timer of any worker.
    pub fn timer(&self) -> Option<Instant> {
        self.iter().filter_map(|r| r.state().timer()).min()
    }

    /// The processes they run or stop.
    pub fn pids(&self) -> Vec<Pid> {
        self.iter().filter_map(|r| r.state().pid()).collect()
    }

    /// The one at `index` of the status.
    pub fn at(&mut self, index: usize) -> Option<&mut Replica> {
        self.iter_mut().find(|r| r.index == index)
    }

    /// Whether any of them has a process.
    pub fn running(&self) -> bool {
        self.iter().any(|r| r.state().has_process())
    }

    /// Whether every non-optional worker is done for good (every worker, when all are optional).
    pub fn all_done(&self) -> bool {
        let done = |r: &&Replica| r.state().exited().is_some();
        let mut required = self.iter().filter(|r| !r.spec.optional).peekable();
        if required.peek().is_some() {
            required.all(|r| done(&r))
        } else {
            self.iter().all(|r| done(&r))
        }
    }

    /// The first non-zero code of the non-optional workers, in the order of the
    /// configuration, or 0.
    pub fn first_failure(&self) -> i32 {
        self.iter()
            .filter(|r| !r.spec.optional)
            .filter_map(|r| r.state().exited().flatten())
            .find(|&code| code != 0)
            .unwrap_or(0)
    }

    /// Asks every one to stop.
    pub fn stop_all(&mut self, why: StopReason, os: &dyn Processes) {
        for replica in self.iter_mut() {
            replica.stop(why, os);
        }
    }

    /// Every worker learns that Temporal is back after a loss at `lost_at`.
    pub fn back(&mut self, lost_at: SystemTime) {
        for replica in self.iter_mut() {
            replica.temporal_back(lost_at);
        }
    }

    /// Forwards a signal to every worker process.
    pub fn forward(&self, signal: Signal, os: &dyn Processes) {
        if !self.running() {
            info!(
                "{} received with no worker running; ignored",
                signal.as_str()
            );
        }
        for replica in self.iter() {
            replica.state().forward(signal, os, &replica.label);
        }
    }

    /// SIGTSTP to the supervisor while its one worker holds the terminal: Ctrl-Z typed as the
    /// worker was being given the terminal, or `kill -TSTP`. The worker's group is stopped as
    /// the terminal would have stopped it, and its stop stops the supervisor too
    /// ([`Replicas::reap`]), so that the shell's job stops and continues as one;
    /// with no worker, the supervisor stops itself, as the signal's default would.
    pub fn job_stop(&self, os: &dyn Processes) {
        match self.pids().first() {
            Some(&pid) => {
                info!(
                    child_pid = pid.as_raw(),
                    "SIGTSTP received; stopping the worker's process group, which holds the \
                     terminal"
                );
                os.signal_group(pid, Signal::SIGTSTP);
            }
            None => {
                info!("SIGTSTP received with no worker running; stopping until continued");
                crate::logging::flush(Duration::from_millis(200));
                os.stop_self();
                info!("continued");
            }
        }
    }

    /// Reaps every exited process; returns the exits of their processes. With the terminal
    /// (`take_terminal`), a worker stopped by it stops the supervisor too, so that the shell
    /// gets its prompt back, and is continued when the supervisor is continued itself.
    pub fn reap(&self, os: &dyn Processes, take_terminal: bool) -> Vec<(Pid, i32)> {
        let reaped = os.reap(&self.pids());
        for &(pid, signal) in &reaped.stopped {
            if take_terminal && terminal::is_job_stop(signal) {
                info!(
                    child_pid = pid.as_raw(),
                    "the terminal stopped the worker ({}); stopping too, until the shell continues us",
                    signal.as_str()
                );
                crate::logging::flush(Duration::from_millis(200));
                os.stop_with_worker(pid);
                info!(child_pid = pid.as_raw(), "continued; continuing the worker");
            }
        }
        reaped.exits
    }
}
