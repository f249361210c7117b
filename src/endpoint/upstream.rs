//! The endpoint's own connection to Temporal: the one that carries TLS, mTLS, the API key and
//! the configured gRPC metadata for the worker, with HTTP/2 keepalive. It is a tonic
//! [`Channel`] (connected lazily, reconnected by itself), behind a service that adds the
//! credentials to every request, whether the worker's (forwarded) or the endpoint's own
//! (`DescribeNamespace`, `ShutdownWorker`).
//!
//! Credentials rotate ([`crate::credentials`]): a new API key goes on every request from the
//! moment it is taken; new TLS material needs a new connection, so new requests go to a new
//! channel while those in flight finish on the old one (a TLS connection keeps the certificate
//! it was opened with), which closes once they are done.

use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Request, Response};
use temporalio_common::protos::temporal::api::workflowservice::v1::workflow_service_client::WorkflowServiceClient;
use tonic::body::Body;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use tower::Service;
use tracing::{debug, warn};

use crate::config::ConnectionSettings;
use crate::credentials::{Credentials, Live};
use crate::task::AbortOnDrop;

/// HTTP/2 flow-control windows toward Temporal: room for large payloads in flight.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

/// What requests go out on now: the channel and the metadata they get.
#[derive(Clone)]
struct Link {
    channel: Channel,
    /// Added to every request: `authorization` (the API key) and the gRPC metadata.
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

/// The connection to Temporal and the credentials every request gets. Each clone pins the
/// link current when it is first polled, for the one request it then carries.
pub struct Upstream {
    current: Arc<RwLock<Link>>,
    pinned: Option<Link>,
    _follow: Option<Arc<AbortOnDrop<()>>>,
}

impl Clone for Upstream {
    fn clone(&self) -> Upstream {
        Upstream {
            current: self.current.clone(),
            pinned: None,
            _follow: self._follow.clone(),
        }
    }
}

impl Upstream {
    /// Connects lazily (the first request connects); `connect_timeout` bounds each TCP connect.
    /// With `live`, the credentials follow it.
    pub fn new(
        c: &ConnectionSettings,
        connect_timeout: Duration,
        live: Option<Live>,
    ) -> Result<Upstream, String> {
        let first = live
            .as_ref()
            .map_or_else(|| Credentials::of(c), |l| (**l.borrow()).clone());
        let settings = first.apply(c);
        let link = Link {
            channel: channel(&settings, connect_timeout)?,
            headers: Arc::new(headers(&settings)?),
        };
        let current = Arc::new(RwLock::new(link));
        let follow = live.map(|live| {
            let task = follow(live, first, c.clone(), connect_timeout, current.clone());
            Arc::new(AbortOnDrop::spawn(task))
        });
        Ok(Upstream {
            current,
            pinned: None,
            _follow: follow,
        })
    }

    /// A client for the endpoint's own calls, on the same connection and credentials.
    pub fn client(&self) -> WorkflowServiceClient<Upstream> {
        WorkflowServiceClient::new(self.clone())
    }

    fn link(&self) -> Link {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Keeps the link up to date with the live credentials.
async fn follow(
    mut live: Live,
    mut credentials: Credentials,
    settings: ConnectionSettings,
    connect_timeout: Duration,
    current: Arc<RwLock<Link>>,
) {
    while live.changed().await.is_ok() {
        let next = (**live.borrow_and_update()).clone();
        let applied = next.apply(&settings);
        let link = |channel| -> Result<Link, String> {
            Ok(Link {
                channel,
                headers: Arc::new(headers(&applied)?),
            })
        };
        let built = if next.tls_differs(&credentials) {
            channel(&applied, connect_timeout).and_then(link)
        } else {
            let channel = current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .channel
                .clone();
            link(channel)
        };
        match built {
            Ok(link) => {
                *current.write().unwrap_or_else(|e| e.into_inner()) = link;
                if next.tls_differs(&credentials) {
                    debug!(
                        "new requests go on a connection with the new TLS material; those in flight finish on the old one"
                    );
                }
                credentials = next;
            }
            Err(e) => warn!(
                "cannot use the new credentials for the endpoints ({e}); keeping the last ones"
            ),
        }
    }
}

/// A lazily connected channel for these settings.
fn channel(c: &ConnectionSettings, connect_timeout: Duration) -> Result<Channel, String> {
    let scheme = if c.tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}", c.address());
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| format!("address {uri}: {e}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .keep_alive_while_idle(true)
        .http2_keep_alive_interval(c.keepalive.interval)
        .keep_alive_timeout(c.keepalive.timeout)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    if let Some(tls) = &c.tls {
        let mut config = ClientTlsConfig::new();
        config = match &tls.ca_cert {
            Some(ca) => config.ca_certificate(Certificate::from_pem(&ca.data)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
            config = config.identity(Identity::from_pem(&cert.data, &key.data));
        }
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
            // The `:authority` Temporal sees, as the Temporal client sends it.
            let origin: Uri = format!("https://{name}")
                .parse()
                .map_err(|e| format!("TLS server name '{name}': {e}"))?;
            endpoint = endpoint.origin(origin);
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| format!("TLS: {e}"))?;
    }
    Ok(endpoint.connect_lazy())
}

/// The headers every request gets: the API key (sensitive: never logged) and the metadata.
fn headers(c: &ConnectionSettings) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    if let Some(key) = &c.api_key {
        let mut value = HeaderValue::try_from(format!("Bearer {key}"))
            .map_err(|_| "the API key is not a valid header value".to_string())?;
        value.set_sensitive(true);
        headers.push((AUTHORIZATION, value));
    }
    let mut meta: Vec<_> = c.headers.iter().collect();
    meta.sort();
    for (name, value) in meta {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("gRPC metadata name '{name}' is not a header name"))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| format!("gRPC metadata '{name}' has a value that is not a header"))?;
        headers.push((name, value));
    }
    Ok(headers)
}

impl Service<Request<Body>> for Upstream {
    type Response = Response<Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.pinned.is_none() {
            self.pinned = Some(self.link());
        }
        let link = self.pinned.as_mut().expect("pinned above");
        link.channel.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let mut link = self.pinned.take().expect("poll_ready comes first");
        // Ours win over the worker's.
        let headers = request.headers_mut();
        for (name, value) in link.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        link.channel.call(request)
    }
}
