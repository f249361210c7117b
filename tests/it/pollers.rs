//! The worker's own pollers, with the example Python worker (official SDK): readiness waits
//! for its first poll, workflows complete through it across a Temporal restart (the worker
//! reconnects by itself and must poll again), and a worker that never polls is restarted
//! after the deadline.

use std::path::PathBuf;

use crate::common::*;

fn example_worker() -> Vec<String> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/workers/document_processing.py");
    vec![
        python().to_string_lossy().into_owned(),
        script.to_string_lossy().into_owned(),
    ]
}

fn execute(server: &DevServer, document: &str) -> String {
    let input = format!("\"{document}\"");
    let out = server.cli(&[
        "workflow",
        "execute",
        "--task-queue",
        "documents",
        "--type",
        "ProcessDocument",
        "--input",
        &input,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "workflow failed: {text}{}",
        stderr(&out)
    );
    text
}

#[test]
fn readiness_waits_for_the_first_poll_and_workflows_complete_across_a_restart() {
    let mut server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let worker = example_worker();
    let worker: Vec<&str> = worker.iter().map(String::as_str).collect();
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_ADDRESS", server.address())
        .env("TEMPORAL_SUPERVISOR_TASK_QUEUE", "documents")
        .env("TEMPORAL_SUPERVISOR_HEALTH_LISTEN", &listen)
        .arg("run")
        .args(["--probe-interval", "1s"]);
    let run = Supervised::start_with(cmd, &[], &worker);

    run.wait_for_log("worker started", 1, PATIENCE);
    // The Python worker needs a moment to connect and poll: running, not yet ready.
    let mut saw_not_polling = false;
    eventually("/readyz 200 once the worker polls", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        saw_not_polling |= code == 503
            && body.contains("\"state\":\"running\"")
            && body.contains("\"polling\":false");
        code == 200
    });
    assert!(
        saw_not_polling,
        "/readyz must not be 200 before the worker polls"
    );
    let log = run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    assert!(log.contains(&format!("identity={pid}@")), "{log}");
    let (_, metrics) = http_get(health, "/metrics");
    assert!(
        !metrics.contains("temporal_supervisor_pollers_seen{worker=\"worker\",replica=\"1\"} 0"),
        "{metrics}"
    );

    let result = execute(&server, "invoice-7.pdf");
    assert!(result.contains("invoice-7.pdf: 21 characters"), "{result}");

    // Temporal restarts (in-memory: a fresh server on the same port); the same worker
    // reconnects by itself and polls it again.
    server.kill();
    eventually("not ready while Temporal is down", PATIENCE, || {
        http_get(health, "/readyz").0 == 503
    });
    server.spawn();
    run.wait_for_log("worker is polling again", 1, PATIENCE);
    eventually(
        "/readyz 200 with the worker polling again",
        PATIENCE,
        || http_get(health, "/readyz").0 == 200,
    );
    let result = execute(&server, "report-8.pdf");
    assert!(result.contains("report-8.pdf: 20 characters"), "{result}");
    assert_eq!(run.worker_pids(), vec![pid], "{}", run.log());
}

#[test]
fn a_worker_that_never_polls_is_restarted_after_the_deadline() {
    // Through its endpoint, the worker is seen sending no poll; without one, the server's
    // pollers say what is there instead.
    let endpoint_finding = "this worker has sent no poll through its endpoint";
    never_polls(&[], &|_| endpoint_finding.to_string());
    never_polls(&["--endpoint=false"], &|server| {
        format!(
            "no pollers at all on documents in default at {}",
            server.address()
        )
    });
}

/// `run` with `extra` and a worker that never polls: replaced after its deadline, and the
/// log and `/readyz` say what `finding` says was seen.
fn never_polls(extra: &[&str], finding: &dyn Fn(&DevServer) -> String) {
    let server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let address = server.address();
    let mut args = vec![
        "run",
        "--address",
        &address,
        "--health-listen",
        &listen,
        "--task-queue",
        "documents",
        "--poller-deadline",
        "2s",
        "--probe-interval",
        "1s",
    ];
    args.extend(extra);
    let run = Supervised::start(&args, POLITE_WORKER);
    let log = run.wait_for_log("worker started", 2, PATIENCE);
    assert!(log.contains("worker not polling"), "{log}");
    let finding = finding(&server);
    assert!(
        log.contains(&format!("not polling within 2s: {finding}")),
        "the log says what was seen: {log}"
    );
    let (_, metrics) = http_get(health, "/metrics");
    assert!(
        metrics.contains("temporal_supervisor_child_restarts_total{worker=\"worker\",replica=\"1\",reason=\"not-polling\"}"),
        "{metrics}"
    );
    let (code, body) = http_get(health, "/readyz");
    assert_eq!(
        code, 503,
        "a worker that does not poll is never ready: {body}"
    );
    assert!(
        body.contains(&finding),
        "/readyz says what was seen: {body}"
    );
}

#[test]
fn restarting_a_wedged_worker_spends_none_of_its_own_restarts() {
    let server = DevServer::start();
    let scratch = Scratch::new("wedged-budget");
    let count = scratch.path("starts");
    // First process: never polls (wedged); second: crashes at once; third: runs on.
    // Each process that runs on notes when its SIGTERM trap is set, so that the stop at the end
    // does not race the trap.
    let trapped = scratch.path("trapped");
    let script = format!(
        "echo x >> {count}; [ $(wc -l < {count}) -eq 2 ] && exit 1; \
         trap 'exit 0' TERM; echo x >> {trapped}; while :; do sleep 0.05; done",
        count = count.display(),
        trapped = trapped.display()
    );
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "documents",
            "--poller-deadline",
            "2s",
            "--probe-interval",
            "1s",
            "--max-restarts",
            "1",
        ],
        &["sh", "-c", &script],
    );
    // With the wedged restart counted, the crash would find the one restart spent and end run.
    let log = run.wait_for_log("worker started", 3, PATIENCE);
    assert!(log.contains("starting it again in"), "{log}");
    assert!(log.contains("worker exited with code 1"), "{log}");
    eventually("the third process sets its trap", PATIENCE, || {
        std::fs::read_to_string(&trapped).is_ok_and(|t| t.lines().count() == 2)
    });
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
}

#[test]
fn pollers_of_another_identity_do_not_count() {
    let server = DevServer::start();
    let worker = example_worker();
    let worker: Vec<&str> = worker.iter().map(String::as_str).collect();
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_ADDRESS", server.address())
        .arg("run")
        .args([
            "--task-queue",
            "documents",
            "--worker-identity",
            "someone-else-*",
            "--poller-deadline",
            FIRST_POLL_DEADLINE,
            "--probe-interval",
            "1s",
        ]);
    let run = Supervised::start_with(cmd, &[], &worker);
    let log = run.wait_for_log("worker not polling", 1, PATIENCE);
    assert!(!log.contains("worker is polling"), "{log}");
    let pid = run.worker_pids()[0];
    assert!(
        log.contains("no poller of this worker (someone-else-*) on documents; polled by")
            && log.contains(&format!("{pid}@")),
        "the log names the identities that do poll: {log}"
    );
}
