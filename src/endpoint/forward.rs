//! One RPC through the endpoint: forwarded to Temporal as it came (with the credentials added),
//! its response returned as it comes, and, for the RPCs the endpoint follows ([`Rpc`]), its
//! messages looked at on the way. Polls are read whole first (they are small), so that a
//! draining endpoint can hold them. An open poll is never cancelled here: a task Temporal
//! matched to it in that instant would wait for its timeout.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response};
use tonic::body::Body;
use tower::ServiceExt;

use crate::endpoint::grpc::{self, Encoding, Inspected};
use crate::endpoint::ledger::{Instance, POLL_ACCEPTED_AFTER};
use crate::endpoint::metrics::TaskKind;
use crate::endpoint::rpc::{self, ResponseSide, Rpc};
use crate::endpoint::shared::{Phase, Shared};
use crate::endpoint::wire::{self, STICKY};

/// A poll request is a few hundred bytes; one larger than this is forwarded without a look.
const POLL_REQUEST_MOST: usize = 64 << 10;
/// A held poll is answered (empty) this long before its own deadline...
const HOLD_MARGIN: Duration = Duration::from_secs(2);
/// ...and after this long at most, as Temporal ends an idle long poll.
const HOLD_MOST: Duration = Duration::from_secs(60);
/// Once the worker is being stopped, a new poll is answered with no task after this long.
const RELEASED_POLL: Duration = Duration::from_secs(1);

/// Serves one RPC.
pub async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let rpc = Rpc::of(request.uri().path());
    Ok(match rpc {
        Rpc::Poll(kind) => poll(&shared, kind, request).await,
        _ => {
            let (request_side, response_side) = rpc::sides(rpc, &shared);
            let (parts, body) = request.into_parts();
            let encoding = Encoding::of(&parts.headers);
            let body = Body::new(Inspected::new(body, encoding, request_side));
            forward(&shared, Request::from_parts(parts, body), response_side).await
        }
    })
}

/// Forwards a request; its response is looked at by `side`.
async fn forward(
    shared: &Shared,
    request: Request<Body>,
    mut side: ResponseSide,
) -> Response<Body> {
    match shared.upstream.clone().oneshot(request).await {
        Ok(response) => inspect_response(response, side),
        Err(e) => {
            side.ended(None);
            unreachable_response(&e)
        }
    }
}

fn inspect_response(response: Response<Body>, mut side: ResponseSide) -> Response<Body> {
    // A trailers-only response (an error, mostly) carries its status in the headers.
    if let Some(status) = grpc::status_of(response.headers()) {
        side.ended(Some(status));
        return response;
    }
    let (parts, body) = response.into_parts();
    let encoding = Encoding::of(&parts.headers);
    Response::from_parts(parts, Body::new(Inspected::new(body, encoding, side)))
}

/// What the worker gets when Temporal cannot be reached: what its SDK would have seen.
fn unreachable_response(e: &tonic::transport::Error) -> Response<Body> {
    let cause = std::error::Error::source(e).map_or(e.to_string(), |s| s.to_string());
    tonic::Status::unavailable(format!(
        "cannot reach Temporal (through temporal-supervisor's endpoint): {cause}"
    ))
    .into_http()
}

/// A poll: read whole, held while draining, else forwarded; accepted once Temporal kept it
/// open without an error for a moment, or answered it.
async fn poll(shared: &Arc<Shared>, kind: TaskKind, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, POLL_REQUEST_MOST).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return tonic::Status::invalid_argument("poll request too large or cut off")
                .into_http();
        }
    };
    let encoding = Encoding::of(&parts.headers);
    let instance = grpc::first_message(&bytes, encoding).and_then(|m| read_poll(&m, kind));
    if shared.draining() {
        return hold(shared, &parts.headers).await;
    }
    let (_, mut side) = rpc::sides(Rpc::Poll(kind), shared);
    let id = instance.map(|(instance, deployment)| {
        shared.with_ledger(|l| l.poll_started(kind, instance, deployment))
    });
    side.poll = id;
    let request = Request::from_parts(parts, Body::new(Full::new(bytes)));
    let call = shared.upstream.clone().oneshot(request);
    tokio::pin!(call);
    let result = tokio::select! {
        result = &mut call => result,
        () = tokio::time::sleep(POLL_ACCEPTED_AFTER) => {
            if let Some(id) = id {
                shared.with_ledger(|l| l.poll_accepted(id));
            }
            call.await
        }
    };
    match result {
        Ok(response) => inspect_response(response, side),
        Err(e) => {
            side.ended(None);
            unreachable_response(&e)
        }
    }
}

/// The SDK worker a poll comes from, with its queue (the normal one, for a sticky queue), and
/// the deployment and build it polls as.
fn read_poll(message: &[u8], kind: TaskKind) -> Option<(Instance, Option<(String, String)>)> {
    let r: wire::PollRequest = match kind {
        TaskKind::Nexus => wire::read::<wire::PollNexusRequest>(message).ok()?.into(),
        _ => wire::read(message).ok()?,
    };
    let queue = r.task_queue?;
    let (normal, sticky) = if queue.kind == STICKY {
        (queue.normal_name, Some(queue.name))
    } else {
        (queue.name, None)
    };
    let deployment = r
        .deployment_options
        .filter(|d| !d.deployment_name.is_empty() || !d.build_id.is_empty())
        .map(|d| (d.deployment_name, d.build_id));
    let instance = Instance {
        namespace: r.namespace,
        identity: r.identity,
        key: r.worker_instance_key,
        queue: normal,
        sticky_queue: sticky,
    };
    Some((instance, deployment))
}

/// A poll while draining: held, then answered with no task, at its deadline, when the drain
/// is called off, or once it is over (the worker is being stopped).
async fn hold(shared: &Shared, headers: &HeaderMap) -> Response<Body> {
    let wait = grpc_timeout(headers)
        .map_or(HOLD_MOST, |t| t.saturating_sub(HOLD_MARGIN))
        .min(HOLD_MOST);
    let mut phase = shared.watch_phase();
    let released = shared.phase() == Phase::Released;
    let wait = if released { RELEASED_POLL } else { wait };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = phase.wait_for(|p| *p == Phase::Serving || (*p == Phase::Released && !released)) => {}
    }
    empty_response()
}

/// A poll's answer with no task, as Temporal gives it when a long poll expires: one empty
/// message and status OK.
fn empty_response() -> Response<Body> {
    let mut response = Response::new(Body::new(grpc::Unary::new(Bytes::from_static(&[0; 5]))));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// `grpc-timeout`: digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let t = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout(&h)
        };
        assert_eq!(t("70S"), Some(Duration::from_secs(70)));
        assert_eq!(t("1M"), Some(Duration::from_secs(60)));
        assert_eq!(t("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(t("S"), None);
        assert_eq!(t("10x"), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
