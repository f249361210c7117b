//! The worker's local endpoint passes every RPC through unchanged (metadata, deadlines,
//! compression, status, streams, large messages) while it holds the real connection: TLS and
//! the API key of a Temporal Cloud stand-in ([`GrpcProxy::cloud`]) never reach the worker. The
//! three ways Python workers connect: Temporal's environment configuration, the address alone,
//! and TLS and the key set in code (told once what to change, then connected directly).

use std::collections::BTreeMap;

use nix::sys::signal::Signal;

use crate::common::grpc_proxy::GrpcProxy;
use crate::common::*;

/// The endpoint's address, from the supervisor's log.
fn endpoint_of(run: &Supervised) -> String {
    let log = run.wait_for_log("the worker's local Temporal endpoint listens", 1, PATIENCE);
    let line = log
        .lines()
        .find(|l| l.contains("local Temporal endpoint listens"))
        .unwrap();
    let at = line.find("endpoint=").expect("the endpoint's address") + "endpoint=".len();
    line[at..].split_whitespace().next().unwrap().to_string()
}

/// The environment of a running process.
fn environment(pid: i32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter_map(|v| {
            let v = String::from_utf8_lossy(v);
            let (k, v) = v.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// `temporal` with these arguments against `address` (plaintext).
fn cli_at(address: &str, args: &[&str]) -> std::process::Output {
    run(
        std::process::Command::new(temporal_cli())
            .args(args)
            .args(["--address", address]),
        PATIENCE,
    )
    .0
}

#[test]
fn through_the_endpoint_a_worker_reaches_cloud_without_holding_its_credentials() {
    let server = DevServer::start();
    let cloud = GrpcProxy::cloud(server.port, "the-key");
    let scratch = Scratch::new("endpoint-cloud");
    let ca = scratch.path("ca.pem");
    std::fs::write(&ca, cloud.ca_pem()).unwrap();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_API_KEY", "the-key");
    let args = [
        "run",
        "--address",
        &cloud.address(),
        "--tls-ca-path",
        ca.to_str().unwrap(),
        "--task-queue",
        "documents",
        "--health-listen",
        &listen,
    ];
    let mut run = Supervised::start_with(cmd, &args, &words(&plain_worker("documents", &[])));
    let endpoint = endpoint_of(&run);
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let env = environment(run.worker_pids()[0]);
    assert_eq!(env.get("TEMPORAL_ADDRESS"), Some(&endpoint), "{env:?}");
    assert_eq!(env.get("TEMPORAL_TLS").map(String::as_str), Some("false"));
    for secret in ["TEMPORAL_API_KEY", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"] {
        assert!(
            !env.contains_key(secret),
            "{secret} in the worker's environment: {env:?}"
        );
    }
    // Any client can use the endpoint: a workflow started through it runs on the worker.
    let out = cli_at(
        &endpoint,
        &[
            "workflow",
            "execute",
            "--task-queue",
            "documents",
            "--type",
            "ProcessDocument",
            "--input",
            "\"a.pdf\"",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a.pdf: 13 characters"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let polls: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/PollWorkflowTaskQueue"))
        .collect();
    assert!(
        !polls.is_empty() && polls.iter().all(|c| c.passed),
        "{polls:?}"
    );
    let poll = &polls[0].headers;
    // The worker's own metadata, deadline and compression arrive as it sent them.
    assert_eq!(poll["client-name"], "temporal-python", "{poll:?}");
    assert!(poll.contains_key("grpc-timeout"), "{poll:?}");
    assert_eq!(poll["grpc-encoding"], "gzip", "{poll:?}");
    assert_eq!(poll["temporal-namespace"], "default", "{poll:?}");
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert!(
        !log.contains("the-key"),
        "the key never appears in the log: {log}"
    );
}

#[test]
fn statuses_streams_and_large_messages_pass_unchanged() {
    let server = DevServer::start();
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "documents",
        ],
        &words(&plain_worker("documents", &[])),
    );
    let endpoint = endpoint_of(&run);
    run.wait_for_log("worker is polling", 1, PATIENCE);
    // An error's status and message, through the endpoint and directly.
    let describe = ["workflow", "describe", "--workflow-id", "no-such-workflow"];
    let (via, direct) = (
        cli_at(&endpoint, &describe),
        cli_at(&server.address(), &describe),
    );
    assert!(!via.status.success());
    assert_eq!(stderr(&via), stderr(&direct), "the same error either way");
    // A 1.5 MB document: its workflow's history passes 6 MB through the endpoint.
    let scratch = Scratch::new("endpoint-large");
    let input = scratch.path("input.json");
    std::fs::write(&input, format!("\"{}\"", "x".repeat(1_500_000))).unwrap();
    let execute = [
        "workflow",
        "execute",
        "--task-queue",
        "documents",
        "--type",
        "ProcessDocument",
        "--workflow-id",
        "large",
        "--input-file",
        input.to_str().unwrap(),
    ];
    let out = cli_at(&endpoint, &execute);
    assert!(out.status.success(), "{}", stderr(&out));
    let show = [
        "workflow",
        "show",
        "--workflow-id",
        "large",
        "--output",
        "json",
    ];
    let (via, direct) = (cli_at(&endpoint, &show), cli_at(&server.address(), &show));
    assert!(via.status.success(), "{}", stderr(&via));
    assert!(via.stdout.len() > 6_000_000, "{} bytes", via.stdout.len());
    assert_eq!(via.stdout, direct.stdout, "the same history either way");
    // A stream: another supervisor watches Temporal's health through this endpoint.
    let proxy = GrpcProxy::plain(endpoint.rsplit(':').next().unwrap().parse().unwrap());
    let watcher = Supervised::start(
        &["run", "--address", &proxy.address(), "--endpoint=false"],
        POLITE_WORKER,
    );
    watcher.wait_for_log("worker started", 1, PATIENCE);
    eventually("a health watch through the endpoint", PATIENCE, || {
        proxy
            .calls()
            .iter()
            .any(|c| c.path == "/grpc.health.v1.Health/Watch" && c.passed)
    });
    let log = watcher.log();
    assert!(
        !log.contains("health watch ended"),
        "the stream stays open: {log}"
    );
}

/// `run` of the slow worker connecting in `style` to `address`, with `args`; returns it once
/// ready (and its health port).
fn connecting(
    style: &str,
    address: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Supervised, u16) {
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let mut worker = slow_worker("styles", std::path::Path::new("/dev/null"));
    worker.extend(["--connect".to_string(), style.to_string()]);
    let mut cmd = supervisor();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut all = vec![
        "run",
        "--address",
        address,
        "--task-queue",
        "styles",
        "--health-listen",
        &listen,
    ];
    all.extend(args);
    let run = Supervised::start_with(cmd, &all, &words(&worker));
    run.wait_for_log("serving /livez", 1, PATIENCE);
    eventually(&format!("the {style} worker ready"), PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    (run, health)
}

#[test]
fn the_three_ways_a_python_worker_connects() {
    let server = DevServer::start();
    for style in ["envconfig", "address"] {
        let (mut run, _) = connecting(style, &server.address(), &[], &[]);
        let log = run.log();
        assert!(
            log.contains("proof=\"its polls through the endpoint\""),
            "{log}"
        );
        assert!(
            !log.contains("directly"),
            "{style}: through the endpoint: {log}"
        );
        run.signal(Signal::SIGTERM);
        assert_eq!(run.wait_exit(PATIENCE).0, 0);
    }
    // TLS and the key in code, as Temporal Cloud samples have it: it speaks TLS to the
    // plaintext endpoint; told so once, it is started again with the connection itself.
    let cloud = GrpcProxy::cloud(server.port, "the-key");
    let scratch = Scratch::new("endpoint-styles");
    let ca = scratch.path("ca.pem");
    std::fs::write(&ca, cloud.ca_pem()).unwrap();
    let (mut run, _) = connecting(
        "tls-in-code",
        &cloud.address(),
        &["--tls-ca-path", ca.to_str().unwrap()],
        &[("TEMPORAL_API_KEY", "the-key")],
    );
    let log = run.log();
    assert_eq!(
        log.matches("the worker speaks TLS to its local endpoint")
            .count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("turn the endpoint off (--endpoint=false)"),
        "{log}"
    );
    assert!(
        log.contains("gets the connection handed over directly"),
        "{log}"
    );
    run.signal(Signal::SIGTERM);
    assert_eq!(run.wait_exit(PATIENCE).0, 0);
}
