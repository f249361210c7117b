//! One readiness attempt, in stages, bounded as a whole.
//!
//! | stage       | passes when                                                              |
//! |-------------|--------------------------------------------------------------------------|
//! | `resolve`   | the host name resolves (looked up again on every attempt)                |
//! | `connect`   | one of its addresses accepts a TCP connection                            |
//! | `grpc`      | the gRPC connection comes up: TLS, API key, and a `GetSystemInfo` call   |
//! | `auth`      | (fails only) the server refuses our credentials, at any later stage      |
//! | `health`    | `grpc.health.v1.Health/Check` for the WorkflowService answers SERVING     |
//! | `namespace` | `DescribeNamespace` finds the namespace in state REGISTERED              |
//!
//! The empty health service name is never asked: Temporal answers SERVING for it before the
//! frontend can serve, and the namespace check is needed because Temporal's own setups create
//! the default namespace only after the frontend is SERVING. The whole attempt shares one
//! deadline, so a blackholed address or a frozen server ends the attempt on time.
//!
//! Temporal Cloud refuses the health service (it is not namespace-scoped) to namespace-scoped
//! API keys, with `Unauthenticated` "Request unauthorized", while `GetSystemInfo` and
//! `DescribeNamespace` work, as the SDKs rely on. So when the health stage is refused for
//! authorization while an API key is in use, readiness rests on `GetSystemInfo` and
//! `DescribeNamespace` from then on (said once in the log); a wrong key still fails, at the
//! `auth` stage, because `GetSystemInfo` or `DescribeNamespace` is refused too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::errors::ClientConnectError;
use temporalio_client::tonic::{self, Code, IntoRequest};
use temporalio_common::protos::grpc::health::v1::HealthCheckRequest;
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::temporal::api::enums::v1::NamespaceState;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
use tokio::net::TcpStream;
use tracing::info;

use crate::config::ConnectionSettings;
use crate::credentials::Live;
pub use crate::temporal::bound::Bound;
use crate::temporal::explain::{
    auth_rejection, describe_connect_error, describe_status, is_auth, looks_like_tls,
};
pub use crate::temporal::failure::{Kind, ProbeError, Stage};
use crate::temporal::tls_diagnosis;

/// The health service name that tells whether the frontend can serve workflow calls.
pub const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// A successful attempt.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The address that answered.
    pub addr: SocketAddr,
    /// How long the attempt took.
    pub latency: Duration,
    /// The connection it proved, for whoever watches Temporal next.
    pub connection: Connection,
}

/// Makes readiness attempts against one configured server, with its live credentials when
/// they rotate. Clones share what they learnt.
#[derive(Debug, Clone)]
pub struct Prober {
    settings: ConnectionSettings,
    /// The credentials as they rotate (the API key file, the TLS files).
    live: Option<Live>,
    /// The server refuses the health service to our API key (Temporal Cloud): readiness rests
    /// on GetSystemInfo and DescribeNamespace.
    health_refused: Arc<AtomicBool>,
}

impl Prober {
    pub fn new(settings: ConnectionSettings) -> Self {
        Prober {
            settings,
            live: None,
            health_refused: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Connects with the credentials `live` holds at each attempt.
    pub fn with_live(self, live: Live) -> Self {
        Prober {
            live: Some(live),
            ..self
        }
    }

    /// The connection as it stands: the configured one, with the live credentials.
    pub fn settings(&self) -> ConnectionSettings {
        match &self.live {
            Some(live) => live.borrow().apply(&self.settings),
            None => self.settings.clone(),
        }
    }

    /// The live credentials, when they rotate.
    pub fn live(&self) -> Option<Live> {
        self.live.clone()
    }

    /// Whether the health service may be used (a `Health/Watch` too).
    pub fn health_allowed(&self) -> bool {
        !self.health_refused.load(Ordering::Relaxed)
    }

    /// One attempt through every stage, all of it within `budget`.
    pub async fn attempt(&self, budget: Duration) -> Result<Ready, ProbeError> {
        self.attempt_keeping(budget).await.map_err(|(e, _)| e)
    }

    /// Like [`Prober::attempt`]; when the server answered but is not ready yet, the failure
    /// comes with the open connection, so that the caller can look again on it.
    pub async fn attempt_keeping(
        &self,
        budget: Duration,
    ) -> Result<Ready, (ProbeError, Option<(Connection, SocketAddr)>)> {
        let bound = Bound::new(budget, "attempt timeout");
        let (connection, addr) = self.connect(&bound).await.map_err(|e| (e, None))?;
        match self.check_ready(&connection, &bound).await {
            Ok(()) => Ok(Ready {
                addr,
                latency: bound.elapsed(),
                connection,
            }),
            Err(e) if e.answered_not_ready() => Err((e, Some((connection, addr)))),
            Err(e) => Err((e, None)),
        }
    }

    /// The stages up to a gRPC connection: resolve, connect, grpc.
    pub async fn connect(&self, bound: &Bound) -> Result<(Connection, SocketAddr), ProbeError> {
        let current = self.settings();
        let s = &current;
        let addrs: Vec<SocketAddr> = bound
            .run(Stage::Resolve, async {
                let addrs: Vec<_> = tokio::net::lookup_host((s.host.as_str(), s.port))
                    .await
                    .map_err(|e| {
                        ProbeError::other(
                            Stage::Resolve,
                            format!("cannot resolve '{}': {e}", s.host),
                        )
                    })?
                    .collect();
                if addrs.is_empty() {
                    return Err(ProbeError::other(
                        Stage::Resolve,
                        format!("'{}' has no addresses", s.host),
                    ));
                }
                Ok(addrs)
            })
            .await?;

        let addr = bound
            .run(Stage::Connect, connect_any(&addrs))
            .await
            .map_err(|mut e| {
                e.addrs = addrs.clone();
                e
            })?;

        let connection = bound
            .run(Stage::Grpc, async {
                let options = s.connection_options(bound.remaining());
                let e = match Connection::connect(options).await {
                    Ok(connection) => return Ok(connection),
                    Err(e) => e,
                };
                if let ClientConnectError::SystemInfoCallError(status) = &e
                    && (is_auth(status.code()) || status.code() == Code::ResourceExhausted)
                {
                    return Err(self.status_error(Stage::Grpc, status, bound));
                }
                let error = describe_connect_error(&e);
                if s.tls.is_some()
                    && !looks_like_tls(&error)
                    && let Some(alert) =
                        tls_diagnosis::server_rejection(addr, s, bound.deadline).await
                {
                    return Err(ProbeError::other(
                        Stage::Grpc,
                        format!("TLS rejected by the server: {alert}"),
                    ));
                }
                Err(ProbeError::other(Stage::Grpc, error))
            })
            .await?;
        Ok((connection, addr))
    }

    /// The stages on an established connection: health (unless refused to our API key),
    /// namespace.
    pub async fn check_ready(
        &self,
        connection: &Connection,
        bound: &Bound,
    ) -> Result<(), ProbeError> {
        if self.health_allowed() {
            bound
                .run(Stage::Health, self.check_health(connection, bound))
                .await?;
        }
        bound
            .run(Stage::Namespace, self.check_namespace(connection, bound))
            .await
    }

    async fn check_health(&self, connection: &Connection, bound: &Bound) -> Result<(), ProbeError> {
        let mut request = HealthCheckRequest {
            service: WORKFLOW_SERVICE.to_string(),
        }
        .into_request();
        request.set_timeout(bound.remaining());
        let response = match connection.health_service().check(request).await {
            Ok(response) => response,
            Err(status) if is_auth(status.code()) && self.settings.api_key.is_some() => {
                self.refuse_health(&status);
                return Ok(());
            }
            Err(status) => return Err(self.status_error(Stage::Health, &status, bound)),
        };
        match ServingStatus::try_from(response.into_inner().status) {
            Ok(ServingStatus::Serving) => Ok(()),
            Ok(other) => Err(ProbeError::new(
                Stage::Health,
                Kind::NotReady,
                format!("WorkflowService is {}", other.as_str_name()),
            )),
            Err(_) => Err(ProbeError::new(
                Stage::Health,
                Kind::NotReady,
                "unknown serving status",
            )),
        }
    }

    /// Readiness rests on GetSystemInfo and DescribeNamespace from now on; said once.
    fn refuse_health(&self, status: &tonic::Status) {
        if !self.health_refused.swap(true, Ordering::Relaxed) {
            info!(
                reason = %format!("{:?}: {}", status.code(), status.message()),
                "the server refuses the health service to this API key (as Temporal Cloud \
                 does for namespace-scoped keys); readiness rests on GetSystemInfo and \
                 DescribeNamespace, as the SDKs do"
            );
        }
    }

    /// The namespace stage alone: `DescribeNamespace`, state REGISTERED.
    pub async fn check_namespace(
        &self,
        connection: &Connection,
        bound: &Bound,
    ) -> Result<(), ProbeError> {
        let namespace = &self.settings.namespace;
        let mut request = DescribeNamespaceRequest {
            namespace: namespace.clone(),
            ..Default::default()
        }
        .into_request();
        request.set_timeout(bound.remaining());
        let response = connection
            .workflow_service()
            .describe_namespace(request)
            .await
            .map_err(|status| match status.code() {
                Code::NotFound => ProbeError::new(
                    Stage::Namespace,
                    Kind::NotReady,
                    format!("namespace '{namespace}' does not exist"),
                ),
                _ => self.status_error(Stage::Namespace, &status, bound),
            })?;
        let state = response
            .into_inner()
            .namespace_info
            .map(|info| info.state)
            .and_then(|state| NamespaceState::try_from(state).ok());
        match state {
            Some(NamespaceState::Registered) => Ok(()),
            Some(other) => Err(ProbeError::new(
                Stage::Namespace,
                Kind::NotReady,
                format!("namespace '{namespace}' is {}", other.as_str_name()),
            )),
            None => Err(ProbeError::new(
                Stage::Namespace,
                Kind::NotReady,
                format!("namespace '{namespace}' has no state"),
            )),
        }
    }

    /// A status the server answered with, as a failure of `stage` (or of `auth`).
    fn status_error(&self, stage: Stage, status: &tonic::Status, bound: &Bound) -> ProbeError {
        if is_auth(status.code()) {
            return ProbeError::new(
                Stage::Auth,
                Kind::Status(status.code()),
                auth_rejection(&self.settings, status),
            );
        }
        let reason = describe_status(status, Some(bound));
        let reason = if stage == Stage::Grpc {
            format!("GetSystemInfo: {reason}")
        } else {
            reason
        };
        ProbeError::new(stage, Kind::Status(status.code()), reason)
    }
}

/// Connects to the first address that accepts. Refused only when every address refused.
pub async fn connect_any(addrs: &[SocketAddr]) -> Result<SocketAddr, ProbeError> {
    let mut reasons = Vec::new();
    let mut all_refused = true;
    for &addr in addrs {
        match TcpStream::connect(addr).await {
            // Nothing listens on a local port in the ephemeral range, yet the kernel picked
            // that very port as our source: TCP's simultaneous open connects the socket to
            // itself. Repeated connects walk through the source ports, so a long wait for a
            // server on such a port would meet this sooner or later.
            Ok(stream) if stream.local_addr().ok() == Some(addr) => {
                reasons.push(format!("{addr}: connection refused (met itself)"));
            }
            Ok(_) => return Ok(addr),
            Err(e) => {
                all_refused &= e.kind() == std::io::ErrorKind::ConnectionRefused;
                reasons.push(format!("{addr}: {}", io_reason(&e)));
            }
        }
    }
    let kind = if all_refused && !addrs.is_empty() {
        Kind::Refused
    } else {
        Kind::Other
    };
    Err(ProbeError {
        addrs: addrs.to_vec(),
        ..ProbeError::new(Stage::Connect, kind, reasons.join("; "))
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}
