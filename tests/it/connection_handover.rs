//! The worker connects where the supervisor checked: the connection the supervisor resolved
//! (flags, its file, Temporal's profile) is handed to the worker under Temporal's own
//! environment-configuration names, wins over what the environment had, and can be turned off.
//! By default the address handed over is the worker's local endpoint, which holds the
//! connection itself (credentials and metadata included).

use std::collections::BTreeMap;

use crate::common::*;

/// The worker's environment, as `env` prints it into a file, once the worker ran.
fn worker_env(args: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, String> {
    worker_env_of(&DevServer::start_on(free_port(), &["orders"]), args, env)
}

fn worker_env_of(
    server: &DevServer,
    args: &[&str],
    env: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let scratch = Scratch::new("handover");
    let dump = scratch.path("env");
    let mut cmd = supervisor();
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.args(["run", "--address", &server.address()]).args(args);
    let script = format!(
        "env > {dump}.tmp && mv {dump}.tmp {dump}; exec sleep 1000",
        dump = dump.display()
    );
    let run = Supervised::start_with(cmd, &[], &["sh", "-c", &script]);
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to write its environment", PATIENCE, || {
        dump.exists()
    });
    scratch
        .read("env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_resolved_connection_wins_over_the_environment_and_can_be_turned_off() {
    let server = DevServer::start_on(free_port(), &["orders"]);
    let stale = [
        ("TEMPORAL_ADDRESS", "stale-host:7233"),
        ("TEMPORAL_GRPC_META_X_TEAM", "documents"),
    ];
    // Through the endpoint: its address, plaintext, and the metadata left to the endpoint.
    let env = worker_env_of(&server, &["--namespace", "orders"], &stale);
    let endpoint = &env["TEMPORAL_ADDRESS"];
    assert!(endpoint.starts_with("127.0.0.1:"), "{env:?}");
    assert_ne!(*endpoint, server.address(), "the endpoint, not the server");
    assert_eq!(env["TEMPORAL_NAMESPACE"], "orders");
    assert_eq!(env["TEMPORAL_TLS"], "false");
    assert!(!env.contains_key("TEMPORAL_GRPC_META_X_TEAM"), "{env:?}");
    assert!(!env.contains_key("TEMPORAL_API_KEY"), "{env:?}");

    // Without it: the server itself, and the metadata handed over.
    let env = worker_env_of(
        &server,
        &["--namespace", "orders", "--endpoint=false"],
        &stale,
    );
    assert_eq!(env["TEMPORAL_ADDRESS"], server.address(), "{env:?}");
    assert_eq!(env["TEMPORAL_NAMESPACE"], "orders");
    assert_eq!(env["TEMPORAL_TLS"], "false");
    assert_eq!(env["TEMPORAL_GRPC_META_X_TEAM"], "documents", "{env:?}");
    assert!(!env.contains_key("TEMPORAL_API_KEY"), "{env:?}");

    let env = worker_env(
        &["--export-connection=false"],
        &[("TEMPORAL_ADDRESS", "stale-host:7233")],
    );
    assert_eq!(env["TEMPORAL_ADDRESS"], "stale-host:7233", "{env:?}");
    assert!(!env.contains_key("TEMPORAL_NAMESPACE"), "{env:?}");
}

#[test]
fn with_no_temporal_variables_the_example_worker_polls_the_checked_server_and_namespace() {
    let server = DevServer::start_on(free_port(), &["orders"]);
    let scratch = Scratch::new("handover-home");
    let health = free_port();
    let mut cmd = supervisor();
    // No TEMPORAL_* at all, and no profile file to be found either.
    cmd.env_remove("TEMPORAL_CONFIG_FILE")
        .env("HOME", &scratch.0)
        .env("XDG_CONFIG_HOME", &scratch.0)
        .args([
            "run",
            "--address",
            &server.address(),
            "--namespace",
            "orders",
            "--task-queue",
            "documents",
            "--health-listen",
            &format!("127.0.0.1:{health}"),
            "--probe-interval",
            "1s",
        ]);
    let worker = example_worker("document_processing.py");
    let run = Supervised::start_with(cmd, &[], &words(&worker));
    run.wait_for_log("worker is polling", 1, PATIENCE);
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let out = server.cli(&[
        "workflow",
        "execute",
        "--namespace",
        "orders",
        "--task-queue",
        "documents",
        "--type",
        "ProcessDocument",
        "--input",
        "\"memo.txt\"",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("memo.txt: 16 characters"), "{text}");
}
