//! Health endpoints for Kubernetes and Docker, and `/metrics`, served with hyper. What they
//! say is in [`crate::serve::status`]; `/metrics` is always 200 (OpenMetrics text).
//!
//! The probe endpoints answer with a small JSON document of the supervisor's state. Each
//! connection serves one request (no keep-alive), at most [`MAX_CONNECTIONS`] at a time, with
//! a header timeout: a burst of requests or a stalled client cannot pile up connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::serve::status::Status;

/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 32;
/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves the endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, status: Status) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                debug!("health listener accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = status.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let status = status.clone();
                async move { Ok::<_, Infallible>(route(&status, &request)) }
            });
            let connection = http1::Builder::new()
                .keep_alive(false)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                debug!(%peer, "health connection ended: {e}");
            }
            drop(permit);
        });
    }
}

fn route(status: &Status, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    let path = request.uri().path();
    if path == "/metrics" {
        return respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            status.metrics.encode(),
        );
    }
    let worker = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("worker="))
            .map(str::to_string)
    });
    match status.answer(path, worker.as_deref()) {
        Some((code, body)) => respond(code, "application/json", body),
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /livez, /readyz, /readyz?worker=NAME, /startupz or /metrics\n".into(),
        ),
    }
}

fn respond(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// `status`: asks a running supervisor's `/readyz` (about one worker, with `worker`).
pub async fn ask_ready(
    addr: SocketAddr,
    timeout: Duration,
    worker: Option<&str>,
) -> Result<(StatusCode, String), String> {
    let path = match worker {
        Some(name) => format!("/readyz?worker={name}"),
        None => "/readyz".to_string(),
    };
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        tokio::spawn(connection);
        let request = Request::get(path.as_str())
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| format!("{path}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let code = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok((code, body))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{addr}: no answer within {}",
                crate::duration::format(timeout)
            ))
        })
}
