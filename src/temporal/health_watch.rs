//! The monitor's `grpc.health.v1.Health/Watch` stream: the server pushes any change of the
//! WorkflowService's status, and the stream breaks at once when the connection drops.

use std::time::Duration;

use temporalio_client::Connection;
use temporalio_client::tonic::codec::Streaming;
use temporalio_client::tonic::{Code, IntoRequest};
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tracing::debug;

use crate::temporal::explain::describe_status;
use crate::temporal::probe::{Bound, Kind, ProbeError, Stage, WORKFLOW_SERVICE};

/// An open watch.
pub type Watch = Streaming<HealthCheckResponse>;

/// Opens the watch on `connection`, within `timeout`. `None`: the server refuses it outright
/// (an API key on Temporal Cloud, a proxy without streams), so there is none to ask for; one
/// that does not answer fails like a probe.
pub async fn open(connection: &Connection, timeout: Duration) -> Result<Option<Watch>, ProbeError> {
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
pub async fn ends(watch: &mut Option<Watch>) -> String {
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
