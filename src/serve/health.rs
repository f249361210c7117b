//! Health endpoints for Kubernetes and Docker, and `/metrics`, served with hyper.
//!
//! | path | 200 when | otherwise |
//! |---|---|---|
//! | `/livez` | the supervisor works as designed (worker running, or deliberately waiting) | 503: a stop is stuck |
//! | `/readyz` | Temporal is ready and the worker runs (and polls, with `--task-queue`) | 503 |
//! | `/startupz` | Temporal was ready once and a worker started | 503 |
//! | `/metrics` | always: Prometheus text format | |
//!
//! The probe endpoints answer with a small JSON document of the supervisor's state. Each
//! connection serves one request (no keep-alive), at most [`MAX_CONNECTIONS`] at a time, with
//! a header timeout: a burst of requests or a stalled client cannot pile up connections.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::serve::metrics::Metrics;

/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 32;
/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How many recent restarts the JSON body lists.
const RECENT_RESTARTS: usize = 10;

/// The supervisor's state as the endpoints report it; the supervisor updates it.
#[derive(Debug)]
pub struct Report {
    pub state: &'static str,
    pub child_pid: Option<i32>,
    pub temporal_up: bool,
    pub started: Instant,
    pub first_ready: Option<Duration>,
    pub last_probe: Option<LastProbe>,
    pub restarts: BTreeMap<&'static str, u64>,
    pub recent_restarts: VecDeque<serde_json::Value>,
    /// `None` without task queues to check; otherwise whether this worker polls them.
    pub polling: Option<bool>,
    pub pollers_seen: u64,
    /// When not polling: what was seen on each queue instead.
    pub poller_findings: Vec<String>,
    /// The worker's process group survived SIGKILL: the supervisor cannot go on as designed.
    pub stuck: bool,
}

#[derive(Debug, Clone)]
pub struct LastProbe {
    pub ok: bool,
    pub stage: Option<String>,
    pub reason: Option<String>,
    pub latency: Duration,
    pub at: SystemTime,
}

/// The report and the metrics, shared by the supervisor and the HTTP server.
#[derive(Clone)]
pub struct Status {
    report: Arc<Mutex<Report>>,
    pub metrics: Arc<Metrics>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

impl Status {
    pub fn new() -> Status {
        Status {
            report: Arc::new(Mutex::new(Report {
                state: "starting",
                child_pid: None,
                temporal_up: false,
                started: Instant::now(),
                first_ready: None,
                last_probe: None,
                restarts: BTreeMap::new(),
                recent_restarts: VecDeque::new(),
                polling: None,
                pollers_seen: 0,
                poller_findings: Vec::new(),
                stuck: false,
            })),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// The report, for reading or a short update.
    pub fn report(&self) -> MutexGuard<'_, Report> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a restart and why.
    pub fn restarted(&self, reason: &'static str, detail: &str) {
        self.metrics.restarted(reason);
        let mut r = self.report();
        *r.restarts.entry(reason).or_default() += 1;
        r.recent_restarts.push_back(json!({
            "reason": reason,
            "detail": detail,
            "at": unix_seconds(SystemTime::now()),
        }));
        if r.recent_restarts.len() > RECENT_RESTARTS {
            r.recent_restarts.pop_front();
        }
    }

    /// Records a readiness result (from waiting or probing).
    pub fn probed(&self, ok: bool, stage: Option<&str>, reason: Option<&str>, latency: Duration) {
        if ok {
            self.metrics.probe_ok(latency);
        } else if let Some(stage) = stage {
            self.metrics.probe_failed(stage);
        }
        self.report().last_probe = Some(LastProbe {
            ok,
            stage: stage.map(String::from),
            reason: reason.map(String::from),
            latency,
            at: SystemTime::now(),
        });
    }

    pub fn set_temporal_up(&self, up: bool) {
        self.metrics.temporal_up.set(up as i64);
        self.report().temporal_up = up;
    }

    pub fn set_child(&self, pid: Option<i32>) {
        self.metrics.child_up.set(pid.is_some() as i64);
        let mut r = self.report();
        r.child_pid = pid;
        if pid.is_none() {
            r.pollers_seen = 0;
            r.poller_findings.clear();
            if r.polling.is_some() {
                r.polling = Some(false);
            }
        }
    }

    pub fn set_polling(&self, polling: bool, seen: u64, findings: &[String]) {
        self.metrics.pollers_seen.set(seen as i64);
        let mut r = self.report();
        r.polling = Some(polling);
        r.pollers_seen = seen;
        r.poller_findings = findings.to_vec();
    }

    /// Marks the first readiness (only the first call counts).
    pub fn first_ready(&self) {
        let mut r = self.report();
        if r.first_ready.is_none() {
            let took = r.started.elapsed();
            r.first_ready = Some(took);
            self.metrics.time_to_first_ready.set(took.as_secs_f64());
        }
    }

    /// Status code and JSON body for one of the probe endpoints.
    pub fn answer(&self, path: &str) -> Option<(StatusCode, String)> {
        let r = self.report();
        let ok = match path {
            "/livez" => !r.stuck,
            "/readyz" => {
                r.state == "running"
                    && r.temporal_up
                    && r.child_pid.is_some()
                    && r.polling != Some(false)
            }
            "/startupz" => r.first_ready.is_some(),
            _ => return None,
        };
        let last_probe = r.last_probe.as_ref().map(|p| {
            json!({
                "ok": p.ok,
                "stage": p.stage,
                "reason": p.reason,
                "latency_ms": p.latency.as_secs_f64() * 1000.0,
                "at": unix_seconds(p.at),
            })
        });
        let body = json!({
            "status": if ok { "ok" } else { "unavailable" },
            "state": r.state,
            "child_pid": r.child_pid,
            "temporal_up": r.temporal_up,
            "polling": r.polling,
            "pollers_seen": r.pollers_seen,
            "poller_findings": r.poller_findings,
            "restarts": r.restarts.values().sum::<u64>(),
            "restarts_by_reason": r.restarts,
            "recent_restarts": r.recent_restarts,
            "last_probe": last_probe,
            "first_ready_after_ms": r.first_ready.map(|d| d.as_millis() as u64),
        });
        let code = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Some((code, format!("{body}\n")))
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

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
    match status.answer(path) {
        Some((code, body)) => respond(code, "application/json", body),
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /livez, /readyz, /startupz or /metrics\n".into(),
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

/// `status`: asks a running supervisor's `/readyz`; true when it answers 200.
pub async fn ask_ready(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(StatusCode, String), String> {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        tokio::spawn(connection);
        let request = Request::get("/readyz")
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("static request parts are valid");
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
