//! The endpoint's own connection to Temporal: the one that carries TLS, mTLS, the API key and
//! the configured gRPC metadata for the worker, with HTTP/2 keepalive. It is a tonic
//! [`Channel`] (connected lazily, reconnected by itself), behind a service that adds the
//! credentials to every request, whether the worker's (forwarded) or the endpoint's own
//! (`DescribeNamespace`, `ShutdownWorker`).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Request, Response};
use temporalio_common::protos::temporal::api::workflowservice::v1::workflow_service_client::WorkflowServiceClient;
use tonic::body::Body;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use tower::Service;

use crate::config::ConnectionSettings;

/// HTTP/2 flow-control windows toward Temporal: room for large payloads in flight.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

/// The connection to Temporal and the credentials every request gets.
#[derive(Clone)]
pub struct Upstream {
    channel: Channel,
    /// Added to every request: `authorization` (the API key) and the gRPC metadata.
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl Upstream {
    /// Connects lazily (the first request connects); `connect_timeout` bounds each TCP connect.
    pub fn new(c: &ConnectionSettings, connect_timeout: Duration) -> Result<Upstream, String> {
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
        Ok(Upstream {
            channel: endpoint.connect_lazy(),
            headers: Arc::new(headers),
        })
    }

    /// A client for the endpoint's own calls, on the same connection and credentials.
    pub fn client(&self) -> WorkflowServiceClient<Upstream> {
        WorkflowServiceClient::new(self.clone())
    }

    /// The request with the credentials and metadata set: ours win over the worker's.
    fn dress(&self, mut request: Request<Body>) -> Request<Body> {
        let headers = request.headers_mut();
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        request
    }
}

impl Service<Request<Body>> for Upstream {
    type Response = Response<Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let request = self.dress(request);
        self.channel.call(request)
    }
}
