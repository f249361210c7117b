//! The monitor's `grpc.health.v1.Health/Watch` stream: the server pushes any change of the
//! WorkflowService's status, and the stream breaks at once when the connection drops. A server
//! that refuses it, or keeps cutting it as soon as it opens, is not asked for it again
//! ([`HealthWatch`]).

use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::tonic::codec::Streaming;
use temporalio_client::tonic::{Code, IntoRequest};
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::temporal::explain::describe_status;
use crate::temporal::probe::{Bound, Kind, ProbeError, Stage, WORKFLOW_SERVICE};

/// Watches in a row that end as soon as they open before the watch is given up.
const QUICK_WATCH_ENDS: u32 = 3;

/// An open watch.
pub type Watch = Streaming<HealthCheckResponse>;

/// Opens the watch on `connection`, within `timeout`. `None`: the server refuses it outright
/// (an API key on Temporal Cloud, a proxy without streams), so there is none to ask for; one
/// that does not answer fails like a probe.
async fn open(connection: &Connection, timeout: Duration) -> Result<Option<Watch>, ProbeError> {
    let mut request = HealthCheckRequest {
        service: WORKFLOW_SERVICE.to_string(),
    }
    .into_request();
    // The stream lives as long as the connection; without this the client's 30 s default
    // deadline would end it.
    request.set_timeout(Duration::from_secs(24 * 3600));
    let bound = Bound::new(timeout, "probe timeout");
    bound
        .run(Stage::Health, async {
            match connection.health_service().watch(request).await {
                Ok(response) => Ok(Some(response.into_inner())),
                Err(status)
                    if matches!(
                        status.code(),
                        Code::Unimplemented | Code::Unauthenticated | Code::PermissionDenied
                    ) =>
                {
                    debug!(code = ?status.code(), "health watch not available; probing on the interval only");
                    Ok(None)
                }
                Err(status) => Err(ProbeError::new(
                    Stage::Health,
                    Kind::Status(status.code()),
                    describe_status(&status, Some(&bound)),
                )),
            }
        })
        .await
}

/// Resolves when the watch ends or reports anything but SERVING; never without one.
async fn ends(watch: &mut Option<Watch>) -> String {
    let Some(stream) = watch else {
        return std::future::pending().await;
    };
    loop {
        match stream.message().await {
            Ok(Some(update)) if update.status == ServingStatus::Serving as i32 => continue,
            Ok(Some(update)) => {
                let status = ServingStatus::try_from(update.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("UNKNOWN");
                return format!("the server reports WorkflowService {status}");
            }
            Ok(None) => return "the server closed the health watch".into(),
            Err(status) => return format!("connection lost: {}", status.message()),
        }
    }
}

/// The monitor's watch: open or not, and whether to ask for it again.
pub struct HealthWatch {
    stream: Option<Watch>,
    /// The server refuses the watch (outright, or it keeps cutting it): do not ask again.
    refused: bool,
    /// Watches in a row that ended as soon as they opened.
    quick_ends: u32,
    /// When the current watch opened.
    opened: Instant,
}

impl HealthWatch {
    pub fn new() -> HealthWatch {
        HealthWatch {
            stream: None,
            refused: false,
            quick_ends: 0,
            opened: Instant::now(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// The connection it was on is given up: the watch goes with it.
    pub fn close(&mut self) {
        self.stream = None;
    }

    /// Opens the watch on `connection` unless the server refused it before. A server that
    /// refuses it outright is not asked again; one that does not answer fails like a probe.
    pub async fn open(
        &mut self,
        connection: &Connection,
        timeout: Duration,
    ) -> Result<(), ProbeError> {
        if self.refused {
            return Ok(());
        }
        match open(connection, timeout).await? {
            Some(stream) => {
                debug!("health watch open");
                self.stream = Some(stream);
                self.opened = Instant::now();
            }
            None => self.refused = true,
        }
        Ok(())
    }

    /// Resolves when the open watch ends or reports anything but SERVING, with why; never
    /// without one.
    pub async fn ends(&mut self) -> String {
        ends(&mut self.stream).await
    }

    /// The watch ended for `reason`. One that keeps ending as soon as it opens (within
    /// `quick`: a proxy that cuts streams) would have the monitor probe and reopen it in a
    /// tight loop: it is not asked for again, and probes go on the interval instead. Once is
    /// not enough: a server just back may report NOT_SERVING for a moment.
    pub fn ended(&mut self, reason: &str, quick: Duration) {
        self.stream = None;
        if self.opened.elapsed() < quick {
            self.quick_ends += 1;
        } else {
            self.quick_ends = 0;
        }
        if self.quick_ends >= QUICK_WATCH_ENDS {
            self.refused = true;
            info!(
                "the health watch ended at once {QUICK_WATCH_ENDS} times in a row ({reason}); \
                 probing on the interval instead"
            );
        }
    }
}
