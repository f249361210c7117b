//! The local Temporal endpoint: a loopback gRPC listener that a worker connects to instead of
//! Temporal, and that holds the real connection (TLS, mTLS, API key, keepalive) for it.
//!
//! Every RPC passes through unchanged, streamed message by message: metadata, deadlines,
//! compression, status and trailers ([`forward`], [`upstream`]). On the way the endpoint
//! follows the RPCs that hand the worker tasks and answer them ([`rpc`], [`grpc`], [`wire`]),
//! so that it knows, without a request of its own, what the worker holds and that it polls
//! ([`ledger`]). That is what makes a stop safe: [`drain`] holds new polls, ends the open ones
//! without losing a task, waits for the work in flight and releases the sticky queue before
//! the supervisor sends the stop signal. A worker that speaks TLS to it is told what to change
//! ([`server`]).
//!
//! It sits below the supervisor: `run` gives each worker process one (the port stays across
//! restarts), `watch` one for the pod's worker. It uses only `config`'s connection settings.

mod drain;
mod forward;
mod grpc;
pub mod ledger;
pub mod metrics;
pub mod proof;
mod rpc;
mod server;
mod shared;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use drain::DrainReport;
pub use metrics::DrainEnd;
pub use server::Heard;

use crate::config::ConnectionSettings;
use crate::credentials::Live;
use crate::endpoint::metrics::{EndpointMetrics, TaskKind};
use crate::endpoint::shared::{Phase, Shared};
use crate::endpoint::upstream::Upstream;
use crate::process::handover::{self, EnvChange};
use crate::task::AbortOnDrop;

/// Where an endpoint tells its owner what it heard: the owner's tag for it, and what.
pub type HeardBy = (usize, mpsc::UnboundedSender<(usize, Heard)>);

/// One worker's endpoint, serving until dropped.
pub struct Endpoint {
    shared: Arc<Shared>,
    address: SocketAddr,
    namespace: String,
    _server: AbortOnDrop<()>,
}

impl Endpoint {
    /// Listens on `listen` (port 0: a free one) for the worker `label`; what it hears that its
    /// owner must know goes to `heard`.
    pub fn bind(
        listen: SocketAddr,
        (connection, live): (&ConnectionSettings, Option<Live>),
        (connect_timeout, label): (Duration, &str),
        metrics: EndpointMetrics,
        heard: Option<HeardBy>,
    ) -> Result<Endpoint, String> {
        let listener = std::net::TcpListener::bind(listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| format!("cannot listen on {listen} for the worker's endpoint: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let upstream = Upstream::new(connection, connect_timeout, live)?;
        let shared = Arc::new(Shared::new(upstream, label.to_string(), metrics));
        let server = AbortOnDrop::spawn(server::serve(listener, shared.clone(), heard));
        Ok(Endpoint {
            shared,
            address,
            namespace: connection.namespace.clone(),
            _server: server,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The worker's environment with this endpoint: Temporal's environment configuration
    /// pointing at it, plaintext, with no credential (the endpoint adds them upstream).
    pub fn worker_env(&self, connection: &ConnectionSettings) -> Vec<EnvChange> {
        let mut env = handover::connection_env(connection);
        for (name, value) in &mut env {
            *value = match name.as_str() {
                "TEMPORAL_ADDRESS" => Some(self.address.to_string()),
                "TEMPORAL_NAMESPACE" => value.take(),
                "TEMPORAL_TLS" => Some("false".into()),
                // Credentials, TLS material and metadata: the endpoint's to add.
                _ => None,
            };
        }
        env
    }

    /// The worker's connections open now (none: no worker process uses it).
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }

    /// A new worker process starts: nothing of the last one's counts.
    pub fn new_process(&self) {
        self.shared.with_ledger(|l| l.reset());
        self.shared.forget_connected();
        self.shared.set_phase(Phase::Serving);
    }

    /// Whether the worker process connected to it at least once.
    pub fn was_connected(&self) -> bool {
        self.shared.connected()
    }

    /// What the worker's polls through it show, for the proof that it polls.
    pub fn view(&self) -> View {
        View {
            shared: self.shared.clone(),
            address: self.address,
        }
    }

    /// Starts a drain until `deadline` (open polls Temporal cannot complete get `poll_wait` to
    /// end by themselves); its report goes to `done` with `tag`.
    pub fn drain<T: Send + 'static>(
        &self,
        times: (Instant, Duration),
        tag: T,
        done: mpsc::Sender<(T, DrainReport)>,
    ) -> Drain {
        let (skip, skipped) = watch::channel(false);
        let shared = self.shared.clone();
        let namespace = self.namespace.clone();
        let task = AbortOnDrop::spawn(async move {
            let report = drain::drain(shared, namespace, times, skipped).await;
            let _ = done.send((tag, report)).await;
        });
        Drain { skip, _task: task }
    }

    /// The worker is no longer drained (a drain that no stop followed): polls go through.
    pub fn resume(&self) {
        self.shared.set_phase(Phase::Serving);
    }
}

/// A look at what the worker's polls through the endpoint show (cheap to clone).
#[derive(Clone)]
pub struct View {
    shared: Arc<Shared>,
    address: SocketAddr,
}

impl View {
    /// Whether the worker polls `queue` with one of `kinds` (counting only polls begun after
    /// `since`, when given), and why not when it does not.
    pub fn polling(
        &self,
        queue: &str,
        kinds: &[TaskKind],
        since: Option<std::time::Instant>,
    ) -> ledger::QueuePolling {
        let now = std::time::Instant::now();
        self.shared
            .read_ledger(|l| l.polls_queue(queue, kinds, now, since))
    }

    /// Whether the worker has sent a poll through the endpoint since it started.
    pub fn used(&self) -> bool {
        self.shared.read_ledger(|l| l.ever_polled())
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The worker's connections open now.
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }
}

/// A drain under way; dropping it abandons it.
pub struct Drain {
    skip: watch::Sender<bool>,
    _task: AbortOnDrop<()>,
}

impl Drain {
    /// Cuts the drain short (a second stop signal): it ends at once, releasing the sticky queue.
    pub fn skip(&self) {
        self.skip.send_replace(true);
    }
}
