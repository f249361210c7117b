//! Every SDK's worker is recognised by its pollers: a real TypeScript SDK worker (npm
//! packages installed by the set-up) polls, is ready, completes a workflow and polls again
//! after a server restart (it reconnects by itself); a worker with the Go SDK's default identity, `<pid>@<hostname>@`
//! (reproduced with the Python SDK: no Go toolchain here), counts as polling and is never
//! restarted as wedged.

use std::path::PathBuf;

use crate::common::*;

/// The TypeScript example worker on `queue`.
fn typescript_worker(queue: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/workers/typescript");
    assert!(
        dir.join("node_modules/@temporalio/worker").exists(),
        "the TypeScript SDK is not installed in {}: run ./scripts/test.sh (its set-up runs \
         npm ci there)",
        dir.display()
    );
    vec![
        "node".into(),
        dir.join("worker.js").to_string_lossy().into_owned(),
        queue.into(),
    ]
}

#[test]
fn a_typescript_worker_polls_completes_and_comes_back_after_a_server_restart() {
    let mut server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let worker = typescript_worker("documents-ts");
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "documents-ts",
            "--health-listen",
            &listen,
            "--probe-interval",
            "1s",
        ],
        &words(&worker),
    );
    run.wait_for_log("worker is polling", 1, PATIENCE);
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let result = server.execute("documents-ts", "ProcessDocument", "a.pdf");
    assert!(result.contains("a.pdf: 13 characters"), "{result}");

    server.kill();
    run.wait_for_log("Temporal lost", 1, PATIENCE);
    server.spawn();
    run.wait_for_log("worker is polling again", 1, PATIENCE);
    eventually("/readyz 200 again", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let result = server.execute("documents-ts", "ProcessDocument", "b.pdf");
    assert!(result.contains("b.pdf: 13 characters"), "{result}");
    assert_eq!(run.worker_pids().len(), 1, "the same worker: {}", run.log());
}

#[test]
fn a_worker_with_the_go_sdk_identity_counts_as_polling() {
    let server = DevServer::start();
    let worker = plain_worker("documents-go", &["--go-identity"]);
    // The identity rule is the server's check's (through an endpoint the polls are the
    // worker's own whatever their identity).
    let run = Supervised::start(
        &[
            "run",
            "--endpoint=false",
            "--address",
            &server.address(),
            "--task-queue",
            "documents-go",
            "--poller-deadline",
            FIRST_POLL_DEADLINE,
            "--probe-interval",
            "1s",
            "--log-level",
            "debug",
        ],
        &words(&worker),
    );
    let log = run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    let host = nix::unistd::gethostname().unwrap();
    let identity = format!("polling as {pid}@{}@\n", host.to_string_lossy());
    assert!(log.contains(&identity), "the Go SDK's identity: {log}");
    // Checked every second from then on: still polling, never judged wedged.
    let log = run.wait_for_log("worker polls", 6, PATIENCE);
    assert!(!log.contains("worker not polling"), "{log}");
    assert_eq!(run.worker_pids().len(), 1, "{log}");
}
