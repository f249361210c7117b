//! A gRPC proxy (HTTP/2) in front of a real dev server that answers some calls itself, to
//! stand in for servers the tests cannot run here:
//!
//! - [`GrpcProxy::cloud`]: Temporal Cloud with a namespace-scoped API key, over TLS. Every call
//!   must carry `authorization: Bearer <key>`, or it is refused with `Unauthenticated`
//!   "Request unauthorized"; every `grpc.health.v1.Health` call (Check, Watch) is refused the
//!   same way even with the right key: the health service is not namespace-scoped, and Cloud
//!   refuses it to such keys (reported against Temporal's worker controller, issue 225;
//!   sdk-java PR 2438 dropped its health call for the same reason). `GetSystemInfo`,
//!   `DescribeNamespace`, `DescribeTaskQueue` and the workers' polls pass.
//! - [`GrpcProxy::plain`]: the dev server as it is, plus switches: a frontend that is up but
//!   answers the WorkflowService health check NOT_SERVING (as every frontend does while it
//!   starts), and a rate limiter that refuses the next calls with `ResourceExhausted` (as the
//!   frontend does over `frontend.rps`), health watches that end as soon as they open (a
//!   server just back that reports NOT_SERVING for a moment, or a proxy that cuts streams),
//!   and a network blip: every connection cut and new ones refused for a chosen time.
//!
//! - [`GrpcProxy::mtls`]: a server that demands client certificates issued by chosen CAs.
//!
//! For credentials that rotate, the keys accepted ([`GrpcProxy::accept_keys`]) and the client
//! CAs trusted for new connections ([`GrpcProxy::trust_client_cas`]) can change while it runs.
//! It records each call's method, whether it was let through, its metadata, when it came and
//! the client certificate of its connection, for the tests to check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rcgen::ExtendedKeyUsagePurpose;
use tokio::net::TcpStream;

use tokio_rustls::TlsAcceptor;

use super::certs::{Authority, Leaf, acceptor_for, authority, leaf};

/// One call as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `/package.Service/Method`.
    pub path: String,
    /// Forwarded to the dev server (true) or refused (false).
    pub passed: bool,
    /// Its metadata, as it came.
    pub headers: HeaderMap,
    /// When it came.
    pub at: Instant,
    /// The client certificate (DER) its connection presented, if any.
    pub client_cert: Option<Vec<u8>>,
}

/// What the proxy answers itself instead of forwarding.
#[derive(Default)]
struct Rules {
    /// `Bearer <key>` every call must carry one of (none: no key asked for).
    bearers: Mutex<Vec<String>>,
    /// Refuse every `grpc.health.v1.Health` call with `Unauthenticated`.
    refuse_health: bool,
    /// Answer the WorkflowService health check NOT_SERVING.
    not_serving: AtomicBool,
    /// Refuse this many of the next calls with `ResourceExhausted`.
    exhausted_calls: AtomicU32,
    /// End this many of the next health watches at once, with one NOT_SERVING.
    cut_watches: AtomicU32,
    /// Until then, connections are cut: open ones closed, new ones refused.
    cut_until: Mutex<Option<Instant>>,
    /// Tells open connections to close when a cut starts.
    cut: tokio::sync::watch::Sender<u32>,
    calls: Mutex<Vec<Call>>,
}

impl Rules {
    fn cutting(&self) -> bool {
        self.cut_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }
}

pub struct GrpcProxy {
    pub port: u16,
    /// With TLS: the CA that signed the proxy's certificate (for 127.0.0.1).
    pub ca: Option<Authority>,
    /// With TLS: its certificate, and the acceptor new connections get.
    tls: Option<(Leaf, Arc<Mutex<TlsAcceptor>>)>,
    rules: Arc<Rules>,
}

impl GrpcProxy {
    /// Temporal Cloud with the namespace-scoped API key `key`, over TLS, in front of the dev
    /// server on `upstream`.
    pub fn cloud(upstream: u16, key: &str) -> GrpcProxy {
        let rules = Rules {
            bearers: Mutex::new(vec![format!("Bearer {key}")]),
            refuse_health: true,
            ..Rules::default()
        };
        Self::start(upstream, rules, Some(&[]))
    }

    /// The dev server on `upstream` as it is, until a switch is turned (no TLS).
    pub fn plain(upstream: u16) -> GrpcProxy {
        Self::start(upstream, Rules::default(), None)
    }

    /// A server over TLS that demands client certificates issued by one of `client_cas`.
    pub fn mtls(upstream: u16, client_cas: &[&Authority]) -> GrpcProxy {
        Self::start(upstream, Rules::default(), Some(client_cas))
    }

    fn start(upstream: u16, rules: Rules, client_cas: Option<&[&Authority]>) -> GrpcProxy {
        let ca = client_cas.map(|_| authority("proxy CA"));
        let tls = ca.as_ref().zip(client_cas).map(|(ca, client_cas)| {
            let server = leaf(
                ca,
                &["127.0.0.1", "localhost"],
                ExtendedKeyUsagePurpose::ServerAuth,
            );
            let acceptor = Arc::new(Mutex::new(acceptor_for(&server, client_cas)));
            (server, acceptor)
        });
        let rules = Arc::new(rules);
        let shared = rules.clone();
        let acceptor = tls.as_ref().map(|(_, a)| a.clone());
        let port = super::serve_tcp(move |client| {
            let rules = shared.clone();
            let acceptor = acceptor.as_ref().map(|a| a.lock().unwrap().clone());
            async move {
                if rules.cutting() {
                    return; // dropped: the client sees its connection closed at once
                }
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(client).await {
                            let cert = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.to_vec());
                            serve_connection(tls, upstream, rules, cert).await;
                        }
                    }
                    None => serve_connection(client, upstream, rules, None).await,
                }
            }
        });
        GrpcProxy {
            port,
            ca,
            tls,
            rules,
        }
    }

    /// From now on calls must carry one of these API keys (an overlap while a key rotates,
    /// then the new one alone).
    pub fn accept_keys(&self, keys: &[&str]) {
        *self.rules.bearers.lock().unwrap() = keys.iter().map(|k| format!("Bearer {k}")).collect();
    }

    /// From now on new connections must present a client certificate issued by one of these.
    pub fn trust_client_cas(&self, cas: &[&Authority]) {
        let (server, acceptor) = self.tls.as_ref().expect("a proxy with TLS");
        *acceptor.lock().unwrap() = acceptor_for(server, cas);
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA's certificate (PEM), for a proxy with TLS.
    pub fn ca_pem(&self) -> &str {
        &self.ca.as_ref().expect("a proxy with TLS").cert_pem
    }

    /// The calls seen so far.
    pub fn calls(&self) -> Vec<Call> {
        self.rules.calls.lock().unwrap().clone()
    }

    /// Answer the WorkflowService health check NOT_SERVING (true) or forward it (false).
    pub fn set_not_serving(&self, not_serving: bool) {
        self.rules.not_serving.store(not_serving, Ordering::SeqCst);
    }

    /// Refuse the next `calls` calls with `ResourceExhausted`, as a rate limiter does.
    pub fn exhaust(&self, calls: u32) {
        self.rules.exhausted_calls.store(calls, Ordering::SeqCst);
    }

    /// End the next `watches` health watches as soon as they open: one NOT_SERVING, then the
    /// end of the stream.
    pub fn cut_watches(&self, watches: u32) {
        self.rules.cut_watches.store(watches, Ordering::SeqCst);
    }

    /// A network blip: every open connection is closed now, and new ones are closed as soon as
    /// they are accepted, for `length`.
    pub fn cut_for(&self, length: Duration) {
        *self.rules.cut_until.lock().unwrap() = Some(Instant::now() + length);
        self.rules.cut.send_modify(|n| *n += 1);
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// One client connection: HTTP/2 in, one HTTP/2 connection to the dev server out.
async fn serve_connection<S>(io: S, upstream: u16, rules: Arc<Rules>, cert: Option<Vec<u8>>)
where
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
    let mut cut = rules.cut.subscribe();
    let service = service_fn(move |request: Request<Incoming>| {
        let (mut sender, rules, cert) = (sender.clone(), rules.clone(), cert.clone());
        async move {
            let path = request.uri().path().to_string();
            let health = path.starts_with("/grpc.health.v1.Health/");
            let authorized = {
                let bearers = rules.bearers.lock().unwrap();
                bearers.is_empty()
                    || request
                        .headers()
                        .get("authorization")
                        .is_some_and(|v| bearers.iter().any(|b| v.as_bytes() == b.as_bytes()))
            };
            let exhausted = rules
                .exhausted_calls
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let answer = if !authorized || (health && rules.refuse_health) {
                Some(grpc_error("16", "Request unauthorized"))
            } else if exhausted {
                Some(grpc_error("8", "namespace rate limit exceeded"))
            } else if (path == "/grpc.health.v1.Health/Check"
                && rules.not_serving.load(Ordering::SeqCst))
                || (path == "/grpc.health.v1.Health/Watch"
                    && rules
                        .cut_watches
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok())
            {
                Some(not_serving())
            } else {
                None
            };
            rules.calls.lock().unwrap().push(Call {
                path,
                passed: answer.is_none(),
                headers: request.headers().clone(),
                at: Instant::now(),
                client_cert: cert,
            });
            if let Some(answer) = answer {
                return Ok::<_, Infallible>(answer);
            }
            match sender.send_request(request).await {
                Ok(response) => Ok(response.map(|body| body.boxed())),
                Err(_) => Ok(grpc_error("14", "upstream unavailable")),
            }
        }
    });
    let serving = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service);
    // A cut drops the connection (and the upstream one with it), without a goodbye.
    tokio::select! {
        _ = serving => {}
        _ = cut.changed() => {}
    }
}

/// A HealthCheckResponse with status NOT_SERVING (2): one gRPC message, then OK trailers.
fn not_serving() -> Response<Body> {
    // Field 1 (status), varint 2; framed: no compression, length 2.
    let message = Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 0x02]);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = Full::new(message)
        .map_err(|never| match never {})
        .with_trailers(async move { Some(Ok(trailers)) });
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(body.boxed())
        .unwrap()
}

/// A gRPC "trailers-only" error response.
fn grpc_error(code: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code)
        .header("grpc-message", message)
        .body(Empty::new().map_err(|never| match never {}).boxed())
        .unwrap()
}
