//! A stand-in for Temporal Cloud with a namespace-scoped API key, in front of a real dev
//! server: a TLS gRPC proxy (HTTP/2, forwarding every call to the dev server) that behaves as
//! Cloud does where it matters here:
//!
//! - every call must carry `authorization: Bearer <key>`, or it is refused with
//!   `Unauthenticated` "Request unauthorized";
//! - every `grpc.health.v1.Health` call (Check, Watch) is refused the same way even with the
//!   right key: the health service is not namespace-scoped, and Cloud refuses it to such keys
//!   (reported against Temporal's worker controller, issue 225; sdk-java PR 2438 dropped its
//!   health call for the same reason);
//! - `GetSystemInfo`, `DescribeNamespace`, `DescribeTaskQueue` and the workers' polls pass.
//!
//! It records each call's method and whether it was let through, for the tests to check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rcgen::ExtendedKeyUsagePurpose;
use tokio::net::{TcpListener, TcpStream};

use super::certs::{Authority, acceptor, authority, leaf};

/// One call as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `/package.Service/Method`.
    pub path: String,
    /// Forwarded to the dev server (true) or refused (false).
    pub passed: bool,
}

pub struct CloudStandIn {
    pub port: u16,
    /// The CA that signed the stand-in's certificate (for 127.0.0.1), PEM.
    pub ca: Authority,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CloudStandIn {
    /// Starts the stand-in on a free port, forwarding to the dev server on `upstream`, and
    /// accepting the API key `key`.
    pub fn start(upstream: u16, key: &str) -> CloudStandIn {
        let ca = authority("cloud stand-in CA");
        let server = leaf(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let acceptor = acceptor(&server, None);
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let expected = Arc::new(format!("Bearer {key}"));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let recorded = calls.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, expected, calls) =
                        (acceptor.clone(), expected.clone(), recorded.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(client).await else {
                            return;
                        };
                        serve_connection(tls, upstream, expected, calls).await;
                    });
                }
            });
        });
        CloudStandIn { port, ca, calls }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The calls seen so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// One client connection: HTTP/2 in, one HTTP/2 connection to the dev server out.
async fn serve_connection<S>(
    tls: S,
    upstream: u16,
    expected: Arc<String>,
    calls: Arc<Mutex<Vec<Call>>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(plain) = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], upstream))).await else {
        return;
    };
    let Ok((sender, connection)) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(plain))
        .await
    else {
        return;
    };
    tokio::spawn(connection);
    let service = service_fn(move |request: Request<Incoming>| {
        let (mut sender, expected, calls) = (sender.clone(), expected.clone(), calls.clone());
        async move {
            let path = request.uri().path().to_string();
            let authorized = request
                .headers()
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == expected.as_bytes());
            let passed = authorized && !path.starts_with("/grpc.health.v1.Health/");
            calls.lock().unwrap().push(Call { path, passed });
            if !passed {
                return Ok::<_, Infallible>(unauthenticated());
            }
            match sender.send_request(request).await {
                Ok(response) => Ok(response.map(|body| body.boxed())),
                Err(_) => Ok(unavailable()),
            }
        }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// A gRPC "trailers-only" error response, as Cloud sends for a refused key.
fn unauthenticated() -> Response<Body> {
    grpc_error("16", "Request unauthorized")
}

fn unavailable() -> Response<Body> {
    grpc_error("14", "upstream unavailable")
}

fn grpc_error(code: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code)
        .header("grpc-message", message)
        .body(Empty::new().map_err(|never| match never {}).boxed())
        .unwrap()
}
