//! What the commands that stay (`run`, `watch`) both stand on: the status the endpoints report,
//! the watcher that follows Temporal, the signals, the health server, and each worker's local
//! Temporal endpoint.
//!
//! It comes up in two steps: [`Host::new`] has no side effect (so that `run` can still refuse a
//! worker's missing program first), [`Host::serve`] installs the signal handlers and binds the
//! health endpoints, before anything waits for Temporal, so that the kubelet gets answers at
//! once.

use std::net::SocketAddr;

use tracing::{error, info};

use crate::config::Config;
use crate::credentials::CredentialWatch;
use tokio::sync::mpsc;

use crate::endpoint::{Endpoint, Heard};
use crate::exit;
use crate::process::signals::Signals;
use crate::serve::health::{self, Drains};
use crate::serve::status::Status;
use crate::task::AbortOnDrop;
use crate::temporal::probe::Prober;
use crate::watcher::Watcher;

pub struct Host {
    pub status: Status,
    pub temporal: Watcher,
    /// The connection's credentials as their files rotate.
    credentials: CredentialWatch,
    _health: Option<AbortOnDrop<()>>,
}

impl Host {
    /// Inside the runtime: the credential files are followed from now on.
    pub fn new(config: &Config) -> Host {
        let status = Status::new();
        let credentials = CredentialWatch::start(&config.connection);
        let prober = Prober::new(config.connection.clone()).with_live(credentials.live());
        let temporal = Watcher::new(prober, config.monitor.clone(), status.clone());
        Host {
            status,
            temporal,
            credentials,
            _health: None,
        }
    }

    /// Installs the signal handlers (with job control for a worker that holds the terminal)
    /// and serves the health endpoints (with `/drain` when `drains` is given); on failure, says
    /// why and returns the exit code.
    pub fn serve(
        &mut self,
        config: &Config,
        drains: Option<Drains>,
        terminal: bool,
    ) -> Result<Signals, u8> {
        let signals = Signals::install(terminal).map_err(|e| {
            error!("cannot install signal handlers: {e}");
            exit::OS_ERROR
        })?;
        if let Some(addr) = config.health.listen {
            let listener = health::bind(addr).map_err(|e| {
                error!("cannot listen on {addr} for health endpoints: {e}");
                exit::OS_ERROR
            })?;
            let paths = if drains.is_some() {
                "/livez, /readyz, /startupz, /metrics and /drain"
            } else {
                "/livez, /readyz, /startupz and /metrics"
            };
            info!(%addr, "serving {paths}");
            let status = self.status.clone();
            self._health = Some(AbortOnDrop::spawn(health::serve(listener, status, drains)));
        }
        Ok(signals)
    }

    /// The local endpoint of the worker process at `index` of the status, listening on
    /// `listen` (port 0: a free one); what it hears goes to `heard`, tagged with `index`.
    pub fn endpoint(
        &self,
        config: &Config,
        listen: SocketAddr,
        (label, index): (&str, usize),
        heard: Option<&mpsc::UnboundedSender<(usize, Heard)>>,
    ) -> Result<Endpoint, String> {
        let labels = self.status.worker_labels(index);
        let metrics = self.status.metrics.endpoint.for_worker(labels);
        let attempt = config.wait.attempt_timeout;
        let heard = heard.map(|tx| (index, tx.clone()));
        let connection = (&config.connection, Some(self.credentials.live()));
        let endpoint = Endpoint::bind(listen, connection, (attempt, label), metrics, heard)
            .map_err(|e| format!("worker {label}: {e}"))?;
        info!(worker = %label, endpoint = %endpoint.address(), "the worker's local Temporal endpoint listens");
        Ok(endpoint)
    }
}
