//! What every worker process is started with, prepared once: its program (found before
//! anything waited), the connection handed over, where its output goes, whether it takes the
//! terminal; and what it reports to (the status, the poller reports).

use std::collections::HashMap;
use std::path::PathBuf;

use temporalio_client::Connection;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::workers::{self, SINGLE};
use crate::config::{Config, WorkerSpec};
use crate::duration;
use crate::endpoint::proof::ProofWatch;
use crate::endpoint::{DrainReport, Endpoint, View};
use crate::process::child;
use crate::process::command::{self, SpawnError};
use crate::process::handover::{self, EnvChange};
use crate::process::output::Output;
use crate::process::system::Processes;
use crate::serve::status::Status;
use crate::supervise::polling::Proof;
use crate::temporal::poller_watch::{PollerEvent, PollerWatch};
use crate::temporal::pollers::PollerCheck;

/// Every worker process of the configuration, in its order: its worker, its replica (1-based)
/// and its label, the one name the logs, the output and the status give it.
pub fn processes(config: &Config) -> impl Iterator<Item = (&WorkerSpec, u32, String)> {
    config
        .workers
        .iter()
        .flat_map(|w| (1..=w.replicas).map(move |n| (w, n, workers::label(w, n))))
}

/// Where poller checks report.
pub type PollerReports = mpsc::Sender<PollerEvent>;
/// Where drains report, with the index of the worker process in the status.
pub type DrainReports = mpsc::Sender<(usize, DrainReport)>;

pub struct Launch<'a> {
    pub config: &'a Config,
    pub status: Status,
    /// Where prefixed output goes, when some worker's output is prefixed.
    pub output: Option<Output>,
    /// The monitor's connection while Temporal is well, for poller checks.
    pub well: watch::Receiver<Option<Connection>>,
    pub poller_reports: PollerReports,
    pub drain_reports: DrainReports,
    /// The one worker takes the terminal (see `process::terminal`).
    pub take_terminal: bool,
    /// What starts, signals and reaps the workers' processes.
    pub os: &'a dyn Processes,
    /// The connection handed over to every worker (empty when turned off).
    handover: Vec<EnvChange>,
    /// Each worker's program, by worker name.
    programs: HashMap<String, PathBuf>,
}

impl<'a> Launch<'a> {
    /// Finds every worker's program, so that a typo fails at once with 127 or 126 and one
    /// line naming the worker, before anything waits for Temporal.
    pub fn prepare(
        config: &'a Config,
        status: Status,
        well: watch::Receiver<Option<Connection>>,
        (poller_reports, drain_reports): (PollerReports, DrainReports),
        take_terminal: bool,
        os: &'a dyn Processes,
    ) -> Result<Launch<'a>, SpawnError> {
        let mut programs = HashMap::new();
        for worker in &config.workers {
            let program = &worker.command[0];
            let path = command::worker_path(&worker.env, config.path.as_deref());
            let dir = worker.working_dir.as_deref();
            let found = dir
                .map_or(Ok(()), command::check_dir)
                .and_then(|()| command::resolve(program, path.as_deref(), dir))
                .map_err(|e| SpawnError {
                    message: if worker.name == SINGLE {
                        e.message
                    } else {
                        format!("worker {}: {}", worker.name, e.message)
                    },
                    ..e
                })?;
            programs.insert(worker.name.clone(), found);
        }
        let mut handover = Vec::new();
        if config.run.export_connection {
            handover = handover::connection_env(&config.connection);
        }
        let labels: Vec<String> = processes(config).map(|(_, _, label)| label).collect();
        let output = config
            .workers
            .iter()
            .any(|w| w.prefix_output)
            .then(|| Output::new(&config.log, &labels));
        Ok(Launch {
            config,
            status,
            output,
            well,
            poller_reports,
            drain_reports,
            take_terminal,
            os,
            handover,
            programs,
        })
    }

    /// The proof that a worker process with task queues polls: reported as started, and
    /// run in the background, from its endpoint's polls where it has one, else on the
    /// monitor's connection.
    pub fn watch_pollers(
        &self,
        worker: &WorkerSpec,
        (label, pid, index): (&str, i32, usize),
        endpoint: Option<View>,
    ) -> Option<Proof> {
        let check = PollerCheck::new(&worker.pollers, &self.config.connection, Some(pid));
        self.status.set_child(index, Some(pid), check.is_some());
        let check = check?;
        info!(
            worker = %label,
            child_pid = pid,
            identity = %check.identity(),
            deployment = check.deployment().unwrap_or_else(|| "any".into()),
            deadline = %duration::format(worker.pollers.deadline),
            proof = if endpoint.is_some() { "its polls through the endpoint" } else { "DescribeTaskQueue" },
            "watching the worker's pollers"
        );
        let (well, monitor) = (self.well.clone(), self.config.monitor.clone());
        let judge = (worker.pollers.clone(), check.clone());
        let server = move |reports| PollerWatch::start(check, pid, well, monitor, index, reports);
        Some(match endpoint {
            Some(view) => Proof::Endpoint(ProofWatch::start(
                view,
                judge,
                Box::new(server),
                (index, pid),
                self.poller_reports.clone(),
            )),
            None => Proof::Server(server(self.poller_reports.clone())),
        })
    }

    /// How to start a process of `worker`, connected through `endpoint` when it has one.
    pub fn child_spec(&self, worker: &WorkerSpec, endpoint: Option<&Endpoint>) -> child::Spec {
        let mut env = match endpoint {
            Some(endpoint) if self.config.run.export_connection => {
                endpoint.worker_env(&self.config.connection)
            }
            _ => self.handover.clone(),
        };
        if self.config.run.export_connection
            && let Some(d) = worker.pollers.deployment()
        {
            env.push(("TEMPORAL_DEPLOYMENT_NAME".into(), Some(d.name.clone())));
            env.push(("TEMPORAL_WORKER_BUILD_ID".into(), Some(d.build_id.clone())));
        }
        env.extend(worker.env.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
        child::Spec {
            program: self.programs[&worker.name].clone(),
            command: worker.command.clone(),
            env,
            working_dir: worker.working_dir.clone(),
            stop_signal: worker.process.stop_signal,
            capture_output: worker.prefix_output,
            take_terminal: self.take_terminal,
        }
    }
}
