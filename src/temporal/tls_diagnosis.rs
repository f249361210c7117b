//! Why a TLS server hung up: the server's own alert.
//!
//! With TLS 1.3 a server checks the client certificate after the client thinks the handshake is
//! done. The gRPC stack has usually written its first request by then, so it reports a broken
//! pipe or a closed connection, and the server's alert ("certificate required", "unknown CA")
//! is lost. When the gRPC stage fails over TLS, this module repeats the handshake with the same
//! settings, sends nothing, and reads the server's verdict.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::config::{ConnectionSettings, TlsSettings};

/// How long to wait for the server's verdict once the handshake is done. A server that
/// accepts us answers at once with its HTTP/2 settings; one that rejects us with an alert.
const VERDICT_WAIT: Duration = Duration::from_millis(500);

/// The server's reason for rejecting our TLS connection, if it gives one before `deadline`.
pub async fn server_rejection(
    addr: SocketAddr,
    settings: &ConnectionSettings,
    deadline: Instant,
) -> Option<String> {
    let tls = settings.tls.as_ref()?;
    let config = client_config(tls)?;
    let name = tls
        .server_name
        .clone()
        .unwrap_or_else(|| settings.host.clone());
    let server_name = ServerName::try_from(name).ok()?;
    let tcp = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let connector = TlsConnector::from(Arc::new(config));
    let mut stream = match timeout_at(deadline, connector.connect(server_name, tcp))
        .await
        .ok()?
    {
        Ok(stream) => stream,
        Err(e) => return Some(e.to_string()),
    };
    let mut byte = [0u8; 1];
    let verdict = deadline.min(Instant::now() + VERDICT_WAIT);
    match timeout_at(verdict, stream.read(&mut byte)).await {
        Ok(Err(e)) => Some(e.to_string()),
        _ => None,
    }
}

fn client_config(tls: &TlsSettings) -> Option<ClientConfig> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_cert {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem.data) {
                roots.add(cert.ok()?).ok()?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots);
    let mut config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<_> = CertificateDer::pem_slice_iter(&cert.data)
                .collect::<Result<_, _>>()
                .ok()?;
            let key = PrivateKeyDer::from_pem_slice(&key.data).ok()?;
            builder.with_client_auth_cert(chain, key).ok()?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Some(config)
}
