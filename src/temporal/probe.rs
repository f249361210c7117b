//! One readiness attempt, in stages, bounded as a whole.
//!
//! | stage       | passes when                                                              |
//! |-------------|--------------------------------------------------------------------------|
//! | `resolve`   | the host name resolves (looked up again on every attempt)                |
//! | `connect`   | one of its addresses accepts a TCP connection                            |
//! | `grpc`      | the gRPC connection comes up: TLS, API key, and a `GetSystemInfo` call   |
//! | `health`    | `grpc.health.v1.Health/Check` for the WorkflowService answers SERVING     |
//! | `namespace` | `DescribeNamespace` finds the namespace in state REGISTERED              |
//!
//! The empty health service name is never asked: Temporal answers SERVING for it before the
//! frontend can serve, and the namespace check is needed because Temporal's own setups create
//! the default namespace only after the frontend is SERVING. The whole attempt shares one
//! deadline, so a blackholed address or a frozen server ends the attempt on time.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::errors::ClientConnectError;
use temporalio_client::tonic::{self, Code, IntoRequest};
use temporalio_common::protos::grpc::health::v1::HealthCheckRequest;
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::temporal::api::enums::v1::NamespaceState;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::config::ConnectionSettings;
use crate::duration;
use crate::temporal::tls_diagnosis;

/// The health service name that tells whether the frontend can serve workflow calls.
pub const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// The stages of an attempt, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Resolve,
    Connect,
    Grpc,
    Health,
    Namespace,
    /// Not part of readiness: the worker's pollers, checked by `run` with `--task-queue`.
    Pollers,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Connect => "connect",
            Stage::Grpc => "grpc",
            Stage::Health => "health",
            Stage::Namespace => "namespace",
            Stage::Pollers => "pollers",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt: transient, it knows its stage.
#[derive(Debug, Clone)]
pub struct ProbeError {
    pub stage: Stage,
    pub reason: String,
    /// Every address actively refused the connection: nothing listens there yet, so looking
    /// again costs the server nothing.
    pub refused: bool,
    /// The addresses the name resolved to (empty when resolution failed).
    pub addrs: Vec<SocketAddr>,
}

impl ProbeError {
    pub fn new(stage: Stage, reason: impl Into<String>) -> Self {
        ProbeError {
            stage,
            reason: reason.into(),
            refused: false,
            addrs: Vec::new(),
        }
    }

    /// The server was not reachable at all (name or port), as opposed to reachable but not ready.
    pub fn unreachable(&self) -> bool {
        self.stage <= Stage::Connect
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.reason)
    }
}

/// A successful attempt.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The address that answered.
    pub addr: SocketAddr,
    /// How long the attempt took.
    pub latency: Duration,
}

/// Makes readiness attempts against one configured server.
#[derive(Debug, Clone)]
pub struct Prober {
    settings: ConnectionSettings,
}

impl Prober {
    pub fn new(settings: ConnectionSettings) -> Self {
        Prober { settings }
    }

    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// One attempt through every stage, all of it within `budget`.
    pub async fn attempt(&self, budget: Duration) -> Result<Ready, ProbeError> {
        let bound = Bound::new(budget, "attempt timeout");
        let (connection, addr) = self.connect(&bound).await?;
        self.check_ready(&connection, &bound).await?;
        Ok(Ready {
            addr,
            latency: bound.elapsed(),
        })
    }

    /// The stages up to a gRPC connection: resolve, connect, grpc.
    pub async fn connect(&self, bound: &Bound) -> Result<(Connection, SocketAddr), ProbeError> {
        let s = &self.settings;
        let addrs: Vec<SocketAddr> = bound
            .run(Stage::Resolve, async {
                let addrs: Vec<_> = tokio::net::lookup_host((s.host.as_str(), s.port))
                    .await
                    .map_err(|e| {
                        ProbeError::new(Stage::Resolve, format!("cannot resolve '{}': {e}", s.host))
                    })?
                    .collect();
                if addrs.is_empty() {
                    return Err(ProbeError::new(
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
                let error = match Connection::connect(options).await {
                    Ok(connection) => return Ok(connection),
                    Err(e) => describe_connect_error(&e),
                };
                if s.tls.is_some()
                    && !looks_like_tls(&error)
                    && let Some(alert) =
                        tls_diagnosis::server_rejection(addr, s, bound.deadline).await
                {
                    return Err(ProbeError::new(
                        Stage::Grpc,
                        format!("TLS rejected by the server: {alert}"),
                    ));
                }
                Err(ProbeError::new(Stage::Grpc, error))
            })
            .await?;
        Ok((connection, addr))
    }

    /// The stages on an established connection: health, namespace.
    pub async fn check_ready(
        &self,
        connection: &Connection,
        bound: &Bound,
    ) -> Result<(), ProbeError> {
        let s = &self.settings;
        bound
            .run(Stage::Health, async {
                let mut request = HealthCheckRequest {
                    service: WORKFLOW_SERVICE.to_string(),
                }
                .into_request();
                request.set_timeout(bound.remaining());
                let response =
                    connection
                        .health_service()
                        .check(request)
                        .await
                        .map_err(|status| {
                            ProbeError::new(Stage::Health, describe_status(&status, Some(bound)))
                        })?;
                match ServingStatus::try_from(response.into_inner().status) {
                    Ok(ServingStatus::Serving) => Ok(()),
                    Ok(other) => Err(ProbeError::new(
                        Stage::Health,
                        format!("WorkflowService is {}", other.as_str_name()),
                    )),
                    Err(_) => Err(ProbeError::new(Stage::Health, "unknown serving status")),
                }
            })
            .await?;

        bound
            .run(Stage::Namespace, async {
                let mut request = DescribeNamespaceRequest {
                    namespace: s.namespace.clone(),
                    ..Default::default()
                }
                .into_request();
                request.set_timeout(bound.remaining());
                let response = connection
                    .workflow_service()
                    .describe_namespace(request)
                    .await
                    .map_err(|status| {
                        let reason = if status.code() == Code::NotFound {
                            format!("namespace '{}' does not exist", s.namespace)
                        } else {
                            describe_status(&status, Some(bound))
                        };
                        ProbeError::new(Stage::Namespace, reason)
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
                        format!("namespace '{}' is {}", s.namespace, other.as_str_name()),
                    )),
                    None => Err(ProbeError::new(
                        Stage::Namespace,
                        format!("namespace '{}' has no state", s.namespace),
                    )),
                }
            })
            .await
    }
}

/// The deadline shared by the stages of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    start: Instant,
    deadline: Instant,
    budget: Duration,
    /// Names the limit in messages: "attempt timeout" or "probe timeout".
    limit: &'static str,
}

impl Bound {
    /// A deadline `budget` from now; `limit` names it in messages ("attempt timeout").
    pub fn new(budget: Duration, limit: &'static str) -> Bound {
        let start = Instant::now();
        Bound {
            start,
            deadline: start + budget,
            budget,
            limit,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn timed_out(&self) -> String {
        format!(
            "no answer within the {} ({})",
            self.limit,
            duration::format(self.budget)
        )
    }

    /// Runs one stage; past the deadline it fails as that stage.
    pub async fn run<T>(
        &self,
        stage: Stage,
        stage_future: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        match timeout_at(self.deadline, stage_future).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::new(stage, self.timed_out())),
        }
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
    Err(ProbeError {
        stage: Stage::Connect,
        reason: reasons.join("; "),
        refused: all_refused && !addrs.is_empty(),
        addrs: addrs.to_vec(),
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// The error and its causes as one line, without repeats.
fn chain(e: &dyn StdError) -> String {
    let mut texts = Vec::new();
    let mut current: Option<&dyn StdError> = Some(e);
    while let Some(err) = current {
        texts.push(err.to_string());
        current = err.source();
    }
    join_distinct(texts)
}

/// Joins messages with ": ", leaving out any that another message already contains
/// (error layers often repeat their cause's text).
fn join_distinct(texts: Vec<String>) -> String {
    let kept: Vec<&String> = texts
        .iter()
        .enumerate()
        .filter(|(i, text)| {
            !text.is_empty()
                && !texts.iter().enumerate().any(|(j, other)| {
                    j != *i && other.contains(text.as_str()) && (other != *text || j < *i)
                })
        })
        .map(|(_, text)| text)
        .collect();
    kept.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(": ")
}

fn looks_like_tls(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "alert",
        "unknownissuer",
        "notvalidforname",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

fn describe_connect_error(e: &ClientConnectError) -> String {
    match e {
        ClientConnectError::TonicTransportError(err) => {
            let text = chain(err);
            if looks_like_tls(&text) {
                format!("TLS handshake failed: {text}")
            } else {
                text
            }
        }
        ClientConnectError::SystemInfoCallError(status) => {
            format!("GetSystemInfo: {}", describe_status(status, None))
        }
        other => other.to_string(),
    }
}

/// A gRPC status in words, calling out rejections by TLS or authentication.
fn describe_status(status: &tonic::Status, bound: Option<&Bound>) -> String {
    let mut texts = vec![status.message().to_string()];
    let mut current = status.source();
    while let Some(err) = current {
        texts.push(err.to_string());
        current = err.source();
    }
    let detail = join_distinct(texts);
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            format!("authentication rejected by the server: {detail}")
        }
        Code::Cancelled | Code::DeadlineExceeded if bound.is_some() => {
            bound.map(Bound::timed_out).unwrap_or_default()
        }
        _ if looks_like_tls(&detail) => format!("TLS rejected: {detail}"),
        code => format!("{code:?}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_error_layers_are_said_once() {
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_distinct(texts(&[
                "transport error",
                "transport error: connection error",
                "connection error"
            ])),
            "transport error: connection error"
        );
        assert_eq!(join_distinct(texts(&["a", "b", "a"])), "a: b");
        assert_eq!(join_distinct(texts(&["x", ""])), "x");
    }
}
