//! How a readiness attempt or probe fails: the stage it failed in, what kind of failure it
//! was (the decisions that follow look at the kind, never at the words), and the reason in
//! words for the log.

use std::fmt;
use std::net::SocketAddr;

use temporalio_client::tonic::Code;

/// The stages of an attempt, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Resolve,
    Connect,
    Grpc,
    /// The server refused our credentials (at whichever call).
    Auth,
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
            Stage::Auth => "auth",
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

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every address actively refused the connection: nothing listens there yet, so looking
    /// again costs the server nothing.
    Refused,
    /// No answer within the attempt's (or probe's) deadline.
    TimedOut,
    /// The server answered that it is not ready yet: the frontend is not SERVING, or the
    /// namespace is missing or not REGISTERED. Asking again soon costs one cheap call.
    NotReady,
    /// The server answered with this gRPC error.
    Status(Code),
    /// Anything else: name resolution, TLS, the transport.
    Other,
}

/// A failed attempt: transient, it knows its stage and kind.
#[derive(Debug, Clone)]
pub struct ProbeError {
    pub stage: Stage,
    pub kind: Kind,
    pub reason: String,
    /// The addresses the name resolved to (empty when resolution failed).
    pub addrs: Vec<SocketAddr>,
}

impl ProbeError {
    /// A failure of `kind` in `stage`.
    pub fn new(stage: Stage, kind: Kind, reason: impl Into<String>) -> Self {
        ProbeError {
            stage,
            kind,
            reason: reason.into(),
            addrs: Vec::new(),
        }
    }

    /// A failure of no particular kind (name resolution, TLS, the transport).
    pub fn other(stage: Stage, reason: impl Into<String>) -> Self {
        Self::new(stage, Kind::Other, reason)
    }

    /// The server was not reachable at all (name or port), as opposed to reachable but not ready.
    pub fn unreachable(&self) -> bool {
        self.stage <= Stage::Connect
    }

    /// Every address refused the connection.
    pub fn refused(&self) -> bool {
        self.kind == Kind::Refused
    }

    /// The server's rate limiter refused the call: the next attempt must wait its turn.
    pub fn rate_limited(&self) -> bool {
        self.kind == Kind::Status(Code::ResourceExhausted)
    }

    /// The server answered and said it is not ready yet.
    pub fn answered_not_ready(&self) -> bool {
        self.kind == Kind::NotReady
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.reason)
    }
}
