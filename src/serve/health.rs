//! Health endpoints for Kubernetes and Docker, and `/metrics`, served with hyper. What they
//! say is in [`crate::serve::status`]; `/metrics` is always 200 (OpenMetrics text).
//!
//! The probe endpoints answer with a small JSON document of the supervisor's state. Each
//! connection serves one request (no keep-alive). Idle and slow clients, however many, cannot
//! keep a probe waiting: connections are accepted at once, within a descriptor budget, the
//! oldest idle one shed when it is full, each under deadlines ([`crate::serve::connections`]).
//!
//! Where the supervisor drains workers on request (`watch` with an endpoint), `/drain` starts
//! that drain and answers once it is over, for a worker container's `preStop` hook; its
//! connection's deadline is then the drain's.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tracing::{debug, warn};

use tokio::sync::{mpsc, oneshot, watch};

use crate::serve::connections::{self, Admit, CONNECTION_DEADLINE, Connections, HEADER_DEADLINE};
use crate::serve::http::{self, Response, Unanswered};
use crate::serve::status::Status;

/// Connections the kernel may hold for us before we accept them: a burst of connections (a
/// flood re-opening all at once) must not fill the queue, or the kernel drops a probe's SYN
/// and the probe waits a second for its retry. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;
/// How often, at most, the log says that connections are being shed.
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The health endpoints' listener, with room for bursts in its accept queue.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A drain asked for on `/drain` (`?worker=NAME` for one worker), answered once it is over.
pub struct DrainAsk {
    pub worker: Option<String>,
    pub reply: oneshot::Sender<(StatusCode, String)>,
}

/// Where `/drain` asks, and the longest a drain takes (its connection's deadline).
#[derive(Clone)]
pub struct Drains {
    pub asks: mpsc::Sender<DrainAsk>,
    pub longest: Duration,
}

/// Serves the endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, status: Status, drains: Option<Drains>) {
    let connections = Connections::new(connections::budget());
    debug!(
        budget = connections.budget(),
        "health server connection budget"
    );
    let mut last_said: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors for a moment, or a connection reset before it was taken.
                debug!("health listener accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let admitted = connections.admit(|id| {
            let task = serve_one(
                stream,
                peer,
                (id, connections.clone()),
                status.clone(),
                drains.clone(),
            );
            tokio::spawn(task).abort_handle()
        });
        let reason = match admitted {
            Admit::Serve(_) => continue,
            Admit::ServeAfterShedding(_) => {
                // Lets the shed connection's task end (and close its socket) before the next
                // accept, so that descriptors never run past the budget.
                tokio::task::yield_now().await;
                "budget"
            }
            Admit::Refuse => "all-busy",
        };
        status.metrics.health_connection_shed(reason);
        if last_said.is_none_or(|at| at.elapsed() >= SHED_LOG_INTERVAL) {
            last_said = Some(Instant::now());
            warn!(
                budget = connections.budget(),
                %peer,
                "health endpoint at its connection budget: shedding the oldest idle connections \
                 (counted in temporal_supervisor_health_connections_shed_total)"
            );
        }
    }
}

/// One connection: one request, within the deadlines.
async fn serve_one(
    mut stream: TcpStream,
    peer: SocketAddr,
    (id, connections): (u64, Connections),
    status: Status,
    drains: Option<Drains>,
) {
    // Takes the connection off the books however it ends, shed (aborted) included.
    let _books = EndOnDrop(id, connections.clone());
    let accepted = Instant::now();
    // Up to half as long again, at random: a flood's connections, opened together, then do
    // not all time out (and come back) together.
    let head_by = accepted + HEADER_DEADLINE.mul_f64(1.0 + fastrand::f64() / 2.0);
    // A drain moves the deadline out to its own.
    let (deadline, mut deadline_rx) = watch::channel(accepted + CONNECTION_DEADLINE);
    let exchange = async {
        http::serve(
            &mut stream,
            head_by,
            || connections.busy(id),
            async |request| match (request.path, &drains) {
                ("/drain", Some(drains)) => {
                    deadline.send_replace(Instant::now() + drains.longest + CONNECTION_DEADLINE);
                    drain(drains, request).await
                }
                _ => route(&status, request),
            },
        )
        .await?;
        // Answered: while it closes, it may be shed again like an idle one.
        connections.answered(id);
        http::close(&mut stream).await;
        Ok(())
    };
    let expired = async {
        loop {
            let at = *deadline_rx.borrow_and_update();
            tokio::select! {
                () = tokio::time::sleep_until(at) => return,
                _ = deadline_rx.changed() => {}
            }
        }
    };
    let result = tokio::select! {
        result = exchange => result,
        () = expired => Err(Unanswered::TooSlow),
    };
    match result {
        Ok(()) | Err(Unanswered::Closed) => {}
        Err(Unanswered::TooSlow) => {
            debug!(%peer, "health connection too slow: closed");
            status.metrics.health_connection_shed("deadline");
        }
    }
}

/// `/drain`: asks for the drain and answers with how it went.
async fn drain(drains: &Drains, request: &http::Request<'_>) -> Response {
    let (reply, answer) = oneshot::channel();
    let ask = DrainAsk {
        worker: worker_of(request).map(str::to_string),
        reply,
    };
    if drains.asks.send(ask).await.is_err() {
        return Response::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the supervisor is ending\n".into(),
        );
    }
    match answer.await {
        Ok((code, body)) => Response::new(code, "application/json", body),
        Err(_) => Response::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the drain was not answered\n".into(),
        ),
    }
}

fn worker_of<'a>(request: &http::Request<'a>) -> Option<&'a str> {
    request
        .query
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("worker=")))
}

struct EndOnDrop(u64, Connections);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.1.ended(self.0);
    }
}

fn route(status: &Status, request: &http::Request<'_>) -> Response {
    if request.path == "/metrics" {
        return Response::new(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            status.metrics.encode(),
        );
    }
    match status.answer(request.path, worker_of(request)) {
        Some((code, body)) => Response::new(code, "application/json", body),
        None => Response::new(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /livez, /readyz, /readyz?worker=NAME, /startupz or /metrics\n".into(),
        ),
    }
}

/// The most of an answer `status` reads: a `/readyz` document of a hundred worker processes
/// is about 30 KiB.
const MAX_ANSWER: usize = 1024 * 1024;

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
        // Whatever listens there, its answer costs at most MAX_ANSWER of memory.
        let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
        let body = match http_body_util::BodyExt::collect(limited).await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Err(format!(
                    "{addr}: an answer over 1 MiB, not a supervisor's health endpoint"
                ));
            }
            Err(_) => String::new(),
        };
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
