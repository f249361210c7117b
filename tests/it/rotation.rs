//! Credentials rotate without restarting anything: the API key file and the TLS files, laid
//! out and swapped as the kubelet does a Secret volume, are taken within seconds; the worker
//! (a real Python SDK worker through its endpoint) keeps its pid and completes workflows across
//! each rotation, and never holds the secret. A Temporal Cloud stand-in takes one key, then
//! only the new one; an mTLS stand-in takes client certificates from one CA, then only from a
//! new one.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rcgen::ExtendedKeyUsagePurpose;

use crate::common::certs::{authority, leaf};
use crate::common::grpc_proxy::GrpcProxy;
use crate::common::secret_volume::SecretVolume;
use crate::common::*;

/// The endpoint's address, from the supervisor's log.
fn endpoint_of(run: &Supervised) -> String {
    let log = run.wait_for_log("the worker's local Temporal endpoint listens", 1, PATIENCE);
    let line = log
        .lines()
        .find(|l| l.contains("local Temporal endpoint listens"))
        .unwrap();
    let at = line.find("endpoint=").unwrap() + "endpoint=".len();
    line[at..].split_whitespace().next().unwrap().to_string()
}

/// Runs `SlowWork(0)` through the endpoint; fails the test unless it completes.
fn workflow(endpoint: &str, queue: &str) {
    let (out, _) = run(
        std::process::Command::new(temporal_cli()).args([
            "workflow",
            "execute",
            "--address",
            endpoint,
            "--task-queue",
            queue,
            "--type",
            "SlowWork",
            "--input",
            "0",
        ]),
        PATIENCE,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("COMPLETED"), "{text}{}", stderr(&out));
}

fn environ(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap()).into_owned()
}

/// When the proxy first saw a call with `key`, after `since`.
fn first_call_with(proxy: &GrpcProxy, key: &str, since: Instant) -> Option<Instant> {
    let bearer = format!("Bearer {key}");
    proxy
        .calls()
        .iter()
        .filter(|c| c.at >= since)
        .find(|c| {
            c.headers
                .get("authorization")
                .is_some_and(|v| v == bearer.as_str())
        })
        .map(|c| c.at)
}

fn refused_since(proxy: &GrpcProxy, since: Instant) -> usize {
    proxy
        .calls()
        .iter()
        .filter(|c| c.at >= since && !c.passed)
        .count()
}

#[test]
fn an_api_key_rotates_in_its_secret_volume_and_a_wrong_one_is_reported_until_fixed() {
    let server = DevServer::start();
    let cloud = GrpcProxy::cloud(server.port, "key-one");
    let mut volume = SecretVolume::new(&[("api-key", b"key-one\n")]);
    let scratch = Scratch::new("rotation-key");
    let ca = scratch.path("ca.pem");
    std::fs::write(&ca, cloud.ca_pem()).unwrap();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let key_file = volume.path("api-key");
    let args = [
        "run",
        "--address",
        &cloud.address(),
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--tls-ca-path",
        ca.to_str().unwrap(),
        "--task-queue",
        "rotating",
        "--health-listen",
        &listen,
    ];
    let worker = slow_worker("rotating", std::path::Path::new("/dev/null"));
    let mut run = Supervised::start(&args, &words(&worker));
    let endpoint = endpoint_of(&run);
    run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    workflow(&endpoint, "rotating");

    // Rotation: the new key is valid alongside the old one, then the old one is revoked.
    cloud.accept_keys(&["key-one", "key-two"]);
    let swapped = Instant::now();
    volume.update(&[("api-key", b"key-two\n")]);
    run.wait_for_log("the API key file changed", 1, PATIENCE);
    eventually("a call with the new key", PATIENCE, || {
        first_call_with(&cloud, "key-two", swapped).is_some()
    });
    let taken = first_call_with(&cloud, "key-two", swapped).unwrap() - swapped;
    eprintln!("rotation: first call with the new key {taken:?} after the swap");
    assert!(taken < Duration::from_secs(10), "{taken:?}");
    cloud.accept_keys(&["key-two"]);
    let revoked = Instant::now();
    workflow(&endpoint, "rotating");
    assert_eq!(run.worker_pids(), vec![pid], "the same worker");
    assert_eq!(
        refused_since(&cloud, swapped),
        0,
        "no call failed across the rotation"
    );
    eventually("/readyz 200 after the rotation", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });

    // Half-way through a write: an empty file keeps the last good key, said once.
    volume.update(&[("api-key", b"")]);
    let log = run.wait_for_log("keeping the last good credential", 1, PATIENCE);
    assert!(log.contains("the API key file: it is empty"), "{log}");
    workflow(&endpoint, "rotating");
    assert_eq!(refused_since(&cloud, revoked), 0);

    // A key the server refuses: /readyz says so, the worker is kept, and a fixed file heals it.
    volume.update(&[("api-key", b"key-three\n")]);
    eventually("/readyz 503 for the refused key", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains("Unauthenticated")
    });
    assert_eq!(run.worker_pids(), vec![pid], "the worker is kept");
    volume.update(&[("api-key", b"key-two\n")]);
    eventually("/readyz 200 once the file is fixed", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    workflow(&endpoint, "rotating");
    assert_eq!(run.worker_pids(), vec![pid]);

    // Nothing secret anywhere.
    let (_, metrics) = http_get(health, "/metrics");
    let (_, ready) = http_get(health, "/readyz");
    let env = environ(pid);
    let mut config = supervisor();
    config.args(["config", "--api-key-file", key_file.to_str().unwrap()]);
    let (config, _) = crate::common::run(&mut config, PATIENCE);
    let config = String::from_utf8_lossy(&config.stdout).into_owned();
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    for key in ["key-one", "key-two", "key-three"] {
        for (what, text) in [
            ("log", &log),
            ("metrics", &metrics),
            ("/readyz", &ready),
            ("environment", &env),
            ("config", &config),
        ] {
            assert!(!text.contains(key), "{key} in the {what}: {text}");
        }
    }
    assert!(!env.contains("TEMPORAL_API_KEY"), "{env}");
}

#[test]
fn a_client_certificate_rotates_to_a_new_ca_with_no_call_lost() {
    let server = DevServer::start();
    let (first_ca, second_ca) = (authority("client CA one"), authority("client CA two"));
    let client = ExtendedKeyUsagePurpose::ClientAuth;
    let (first, second) = (
        leaf(&first_ca, &["worker-one"], client.clone()),
        leaf(&second_ca, &["worker-two"], client),
    );
    let proxy = GrpcProxy::mtls(server.port, &[&first_ca]);
    let mut volume = SecretVolume::new(&[
        ("tls.crt", first.cert_pem.as_bytes()),
        ("tls.key", first.key_pem.as_bytes()),
    ]);
    let scratch = Scratch::new("rotation-mtls");
    let ca = scratch.path("ca.pem");
    std::fs::write(&ca, proxy.ca_pem()).unwrap();
    let (cert, key) = (volume.path("tls.crt"), volume.path("tls.key"));
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let args = [
        "run",
        "--address",
        &proxy.address(),
        "--tls-ca-path",
        ca.to_str().unwrap(),
        "--tls-cert-path",
        cert.to_str().unwrap(),
        "--tls-key-path",
        key.to_str().unwrap(),
        "--task-queue",
        "mtls",
        "--health-listen",
        &listen,
    ];
    let worker = slow_worker("mtls", std::path::Path::new("/dev/null"));
    let mut run = Supervised::start(&args, &words(&worker));
    let endpoint = endpoint_of(&run);
    run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    workflow(&endpoint, "mtls");

    // Half-written during a swap: a certificate cut short keeps the last good pair.
    let half = &second.cert_pem[..second.cert_pem.len() / 2];
    volume.update(&[
        ("tls.crt", half.as_bytes()),
        ("tls.key", second.key_pem.as_bytes()),
    ]);
    run.wait_for_log("keeping the last good credential", 1, PATIENCE);

    // The new CA is trusted alongside the old, the pair is swapped, then the old CA goes.
    proxy.trust_client_cas(&[&first_ca, &second_ca]);
    let swapped = Instant::now();
    volume.update(&[
        ("tls.crt", second.cert_pem.as_bytes()),
        ("tls.key", second.key_pem.as_bytes()),
    ]);
    run.wait_for_log("the TLS files changed", 1, PATIENCE);
    let presented = |der: &[u8]| {
        proxy
            .calls()
            .iter()
            .filter(|c| c.at >= swapped)
            .find(|c| c.client_cert.as_deref() == Some(der))
            .map(|c| c.at)
    };
    eventually(
        "a call on a connection with the new certificate",
        PATIENCE,
        || presented(&second.cert_der).is_some(),
    );
    let taken = presented(&second.cert_der).unwrap() - swapped;
    eprintln!("rotation: first call with the new certificate {taken:?} after the swap");
    assert!(taken < Duration::from_secs(10), "{taken:?}");
    proxy.trust_client_cas(&[&second_ca]);
    workflow(&endpoint, "mtls");
    assert_eq!(run.worker_pids(), vec![pid], "the same worker");
    assert_eq!(
        refused_since(&proxy, swapped),
        0,
        "no call failed across the rotation"
    );
    eventually("/readyz 200 after the rotation", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let env = environ(pid);
    assert!(!env.contains("TEMPORAL_TLS_CLIENT_KEY"), "{env}");
    assert!(!env.contains(&second.key_pem[40..80]), "{env}");
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}
