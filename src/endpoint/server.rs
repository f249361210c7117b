//! The endpoint's listener: plaintext HTTP/2 (gRPC) on loopback, one task per connection. A
//! worker that opens with a TLS ClientHello (its code turns TLS on itself) is told once, in
//! one line, what to change; its connection is closed.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::endpoint::shared::Shared;
use crate::endpoint::{HeardBy, forward};

/// Connections from the worker at most at once (an SDK opens one or a few).
const MOST_CONNECTIONS: usize = 256;
/// A connection that sends nothing for this long is closed before it is looked at.
const FIRST_BYTE: Duration = Duration::from_secs(10);
/// The first byte of a TLS record carrying a handshake (a ClientHello, here).
const TLS_HANDSHAKE: u8 = 0x16;
/// HTTP/2 flow-control windows toward the worker.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

/// What the endpoint tells the worker's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The worker opened a TLS connection to the plaintext endpoint.
    TlsHello,
}

/// Serves connections on `listener` until dropped; `heard` learns what the owner must know.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, heard: Option<HeardBy>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MOST_CONNECTIONS => {
                    connections.spawn(connection(stream, shared.clone(), heard.clone()));
                }
                Ok(_) => debug!(worker = %shared.label, "endpoint connection refused: too many open"),
                Err(e) => {
                    debug!(worker = %shared.label, "endpoint accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, heard: Option<HeardBy>) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(FIRST_BYTE, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] == TLS_HANDSHAKE {
        if shared.first_tls_hello() {
            let at = stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            warn!(
                worker = %shared.label,
                "the worker speaks TLS to its local endpoint ({at}), which is plaintext (the \
                 supervisor holds the TLS connection to Temporal): have it read the connection \
                 from Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_TLS, ...) \
                 instead of setting TLS in code, or turn the endpoint off (--endpoint=false)"
            );
        }
        if let Some((tag, heard)) = heard {
            let _ = heard.send((tag, Heard::TlsHello));
        }
        return;
    }
    // Each part of a response goes out as it comes: with Nagle's algorithm a response's body
    // would wait behind its headers for the worker's delayed ACK (about 40 ms).
    if let Err(e) = stream.set_nodelay(true) {
        debug!("endpoint connection: cannot set TCP_NODELAY: {e}");
    }
    let counted = shared.clone();
    let _open = counted.opened();
    let service = service_fn(move |request| forward::handle(shared.clone(), request));
    let served = http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(1000)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        debug!("endpoint connection ended: {e}");
    }
}
