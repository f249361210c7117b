//! TLS and mTLS through a TLS-terminating proxy (tokio-rustls, certificates from rcgen) in front
//! of a real dev server: CA verification, server name and client certificates pass and fail as
//! they should, and failures are reported as TLS problems.

use std::net::SocketAddr;
use std::path::Path;

use crate::common::certs::{Authority, Leaf, acceptor, authority, leaf};
use crate::common::*;
use rcgen::ExtendedKeyUsagePurpose;
use tokio::net::TcpStream;

/// Starts a TLS-terminating proxy to `upstream` on a free port; with `client_ca`, it demands
/// client certificates issued by it.
fn start_proxy(upstream: u16, server: &Leaf, client_ca: Option<&Authority>) -> u16 {
    let acceptor = acceptor(server, client_ca);

    serve_tcp(move |client| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            let upstream_addr = SocketAddr::from(([127, 0, 0, 1], upstream));
            let Ok(mut plain) = TcpStream::connect(upstream_addr).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        }
    })
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn check(args: &[&str]) -> (i32, String) {
    let (out, _) = run(supervisor().arg("check").args(args), PATIENCE);
    (code(out.status), stderr(&out))
}

#[test]
fn tls_and_mtls_pass_and_fail_as_they_should() {
    let server = DevServer::start();
    let server_ca = authority("server CA");
    let client_ca = authority("client CA");
    let stranger_ca = authority("stranger CA");
    let server_leaf = leaf(
        &server_ca,
        &["temporal.test", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client_leaf = leaf(&client_ca, &["worker"], ExtendedKeyUsagePurpose::ClientAuth);
    let stranger_leaf = leaf(
        &stranger_ca,
        &["intruder"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );

    let dir = std::env::temp_dir().join(format!("ts-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = write(&dir, "server-ca.pem", &server_ca.cert_pem);
    let wrong_ca = write(&dir, "stranger-ca.pem", &stranger_ca.cert_pem);
    let client_cert = write(&dir, "client.pem", &client_leaf.cert_pem);
    let client_key = write(&dir, "client.key", &client_leaf.key_pem);
    let stranger_cert = write(&dir, "stranger.pem", &stranger_leaf.cert_pem);
    let stranger_key = write(&dir, "stranger.key", &stranger_leaf.key_pem);

    let tls_port = start_proxy(server.port, &server_leaf, None);
    let mtls_port = start_proxy(server.port, &server_leaf, Some(&client_ca));
    let tls_addr = format!("127.0.0.1:{tls_port}");
    let mtls_addr = format!("127.0.0.1:{mtls_port}");

    // CA verification.
    let (rc, log) = check(&["--address", &tls_addr, "--tls", "--tls-ca-path", &ca]);
    assert_eq!(rc, 0, "trusted CA: {log}");
    let (rc, log) = check(&["--address", &tls_addr, "--tls"]);
    assert_eq!(rc, 1, "system roots do not know the test CA: {log}");
    assert!(log.contains("stage=grpc") && log.contains("TLS"), "{log}");
    let (rc, log) = check(&["--address", &tls_addr, "--tls-ca-path", &wrong_ca]);
    assert_eq!(rc, 1, "wrong CA (TLS implied by the CA path): {log}");
    assert!(log.contains("TLS") && !log.contains("refused"), "{log}");

    // Server name.
    let (rc, log) = check(&[
        "--address",
        &tls_addr,
        "--tls-ca-path",
        &ca,
        "--tls-server-name",
        "temporal.test",
    ]);
    assert_eq!(rc, 0, "name in the certificate: {log}");
    let (rc, log) = check(&[
        "--address",
        &tls_addr,
        "--tls-ca-path",
        &ca,
        "--tls-server-name",
        "other.test",
    ]);
    assert_eq!(rc, 1, "name not in the certificate: {log}");
    assert!(
        log.contains("TLS") && log.contains("not valid for name"),
        "{log}"
    );

    // Client certificates.
    let (rc, log) = check(&[
        "--address",
        &mtls_addr,
        "--tls-ca-path",
        &ca,
        "--tls-cert-path",
        &client_cert,
        "--tls-key-path",
        &client_key,
    ]);
    assert_eq!(rc, 0, "valid client certificate: {log}");
    let (rc, log) = check(&["--address", &mtls_addr, "--tls-ca-path", &ca]);
    assert_eq!(rc, 1, "no client certificate: {log}");
    assert!(log.contains("TLS") && !log.contains("refused"), "{log}");
    let (rc, log) = check(&[
        "--address",
        &mtls_addr,
        "--tls-ca-path",
        &ca,
        "--tls-cert-path",
        &stranger_cert,
        "--tls-key-path",
        &stranger_key,
    ]);
    assert_eq!(rc, 1, "client certificate from an unknown CA: {log}");
    assert!(log.contains("TLS") && !log.contains("refused"), "{log}");

    // Plain text to a TLS port is not "connection refused".
    let (rc, log) = check(&["--address", &tls_addr, "--attempt-timeout", "2s"]);
    assert_eq!(rc, 1, "{log}");
    assert!(
        log.contains("stage=grpc") && !log.contains("refused"),
        "{log}"
    );

    // Temporal's own variables, with inline PEM data.
    let (out, _) = run(
        supervisor()
            .arg("check")
            .env("TEMPORAL_ADDRESS", &mtls_addr)
            .env("TEMPORAL_TLS_SERVER_CA_CERT_DATA", &server_ca.cert_pem)
            .env("TEMPORAL_TLS_CLIENT_CERT_PATH", &client_cert)
            .env("TEMPORAL_TLS_CLIENT_KEY_DATA", &client_leaf.key_pem),
        PATIENCE,
    );
    assert_eq!(
        code(out.status),
        0,
        "TEMPORAL_TLS_* variables: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("PRIVATE KEY"), "{}", stderr(&out));
}
