//! Worker versioning, as Temporal's Kubernetes worker controller sets it up: with
//! TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_WORKER_BUILD_ID in the environment, readiness needs
//! this worker's pollers to carry that deployment and build. Real Python workers: the example
//! (which reads the variables) is ready; one that ignores them, or polls as another build, is
//! not, and `/readyz` and the log say what was expected and what was seen.

use crate::common::*;

const DEPLOYMENT: &str = "workers/documents";

/// `run` with the controller's variables (build `b2`) and the given worker.
fn start(server: &DevServer, health: u16, worker: &[String]) -> Supervised {
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_DEPLOYMENT_NAME", DEPLOYMENT)
        .env("TEMPORAL_WORKER_BUILD_ID", "b2")
        .args([
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "documents",
            "--health-listen",
            &format!("127.0.0.1:{health}"),
            "--probe-interval",
            "1s",
            "--poller-deadline",
            FIRST_POLL_DEADLINE,
        ]);
    Supervised::start_with(cmd, &[], &words(worker))
}

#[test]
fn a_worker_polling_as_its_deployment_version_is_ready() {
    let server = DevServer::start();
    let health = free_port();
    let run = start(&server, health, &example_worker("document_processing.py"));
    let log = run.wait_for_log("worker is polling", 1, PATIENCE);
    assert!(
        log.contains("deployment=\"deployment 'workers/documents' build 'b2'\""),
        "{log}"
    );
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
}

#[test]
fn an_unversioned_worker_is_not_ready_and_says_why() {
    let server = DevServer::start();
    let health = free_port();
    let run = start(&server, health, &plain_worker("documents", &[]));
    run.wait_for_log("documents worker", 1, PATIENCE);
    let expected = "this worker polls documents unversioned, expected deployment \
                    'workers/documents' build 'b2'";
    eventually("/readyz to say what it saw", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains(expected)
    });
    let log = run.wait_for_log("worker not polling", 1, PATIENCE);
    assert!(log.contains(expected), "{log}");
    assert!(!log.contains("worker is polling"), "{log}");
}

#[test]
fn a_worker_of_another_build_is_not_ready_and_says_which() {
    let server = DevServer::start();
    let health = free_port();
    // The worker reads the variables, but its own environment names build b1.
    let mut worker = vec!["env".to_string(), "TEMPORAL_WORKER_BUILD_ID=b1".to_string()];
    worker.extend(example_worker("document_processing.py"));
    let run = start(&server, health, &worker);
    run.wait_for_log("documents worker", 1, PATIENCE);
    let expected = "this worker polls documents as deployment 'workers/documents' build 'b1', \
                    expected deployment 'workers/documents' build 'b2'";
    eventually("/readyz to say what it saw", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains(expected)
    });
    let log = run.wait_for_log("worker not polling", 1, PATIENCE);
    assert!(log.contains(expected), "{log}");
}
