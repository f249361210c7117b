//! Temporal Cloud with a namespace-scoped API key, through a stand-in that answers as Cloud
//! does (tests/common/grpc_proxy.rs: TLS, bearer key on every call, the health service refused even
//! with the right key) in front of a real dev server: `check`, `wait`, `exec` and `run` with a
//! real worker succeed on GetSystemInfo and DescribeNamespace; a wrong or missing key fails at
//! the `auth` stage with the server's message and what to check; the key is never printed.

use crate::common::grpc_proxy::GrpcProxy;
use crate::common::*;

const KEY: &str = "tsk-standin-SECRET-7f3a9c";

fn write_ca(scratch: &Scratch, cloud: &GrpcProxy) -> String {
    let path = scratch.path("cloud-ca.pem");
    std::fs::write(&path, cloud.ca_pem()).unwrap();
    path.to_string_lossy().into_owned()
}

/// The supervisor for the stand-in: its address and CA as flags, the key in TEMPORAL_API_KEY
/// as a Cloud user would have it.
fn against(cloud: &GrpcProxy, ca: &str, key: Option<&str>) -> std::process::Command {
    let mut cmd = supervisor();
    cmd.args(["--address", &cloud.address(), "--tls-ca-path", ca]);
    if let Some(key) = key {
        cmd.env("TEMPORAL_API_KEY", key);
    }
    cmd
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the API key was printed:\n{text}");
    assert!(
        !text.contains("SECRET"),
        "part of the API key was printed:\n{text}"
    );
}

#[test]
fn check_wait_and_exec_are_ready_without_the_health_service() {
    let server = DevServer::start();
    let cloud = GrpcProxy::cloud(server.port, KEY);
    let scratch = Scratch::new("cloud");
    let ca = write_ca(&scratch, &cloud);

    let (out, _) = run(against(&cloud, &ca, Some(KEY)).arg("check"), PATIENCE);
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "check: {log}");
    assert!(
        log.contains("refuses the health service to this API key")
            && log.contains("Unauthenticated: Request unauthorized")
            && log.contains("INFO"),
        "the fallback is said once, at INFO, with the reason: {log}"
    );
    assert_eq!(
        log.matches("refuses the health service").count(),
        1,
        "{log}"
    );
    assert_no_key(&log);

    let (out, _) = run(against(&cloud, &ca, Some(KEY)).arg("wait"), PATIENCE);
    assert_eq!(code(out.status), 0, "wait: {}", stderr(&out));
    assert_no_key(&stderr(&out));

    let (out, _) = run(
        against(&cloud, &ca, Some(KEY)).args(["exec", "--", "sh", "-c", "echo exec-ran"]),
        PATIENCE,
    );
    assert_eq!(code(out.status), 0, "exec: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("exec-ran"));

    let passed: Vec<String> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.passed)
        .map(|c| c.path)
        .collect();
    assert!(
        passed.iter().any(|p| p.ends_with("/GetSystemInfo"))
            && passed.iter().any(|p| p.ends_with("/DescribeNamespace")),
        "readiness rests on GetSystemInfo and DescribeNamespace: {passed:?}"
    );

    let (out, _) = run(against(&cloud, &ca, Some(KEY)).arg("config"), PATIENCE);
    assert_no_key(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_wrong_or_missing_key_fails_at_the_auth_stage_and_keeps_retrying() {
    let server = DevServer::start();
    let cloud = GrpcProxy::cloud(server.port, KEY);
    let scratch = Scratch::new("cloud-wrong");
    let ca = write_ca(&scratch, &cloud);
    let wrong = "tsk-standin-SECRET-wrong";

    let (out, _) = run(against(&cloud, &ca, Some(wrong)).arg("check"), PATIENCE);
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(
        log.contains("ERROR")
            && log.contains("stage=auth")
            && log.contains("the server rejected the API key")
            && log.contains("Request unauthorized")
            && log.contains("TEMPORAL_API_KEY"),
        "names the stage, the server's message and what to check: {log}"
    );
    assert!(!log.contains(wrong), "the wrong key was printed: {log}");

    // Keys get rotated: the schedule keeps trying.
    let (out, _) = run(
        against(&cloud, &ca, Some(wrong)).args([
            "wait",
            "--max-retries",
            "3",
            "--initial-delay",
            "100ms",
        ]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert_eq!(
        log.matches("stage=auth").count(),
        3,
        "three attempts: {log}"
    );
    assert!(!log.contains(wrong), "{log}");

    // No key at all: the server wants credentials.
    let (out, _) = run(against(&cloud, &ca, None).arg("check"), PATIENCE);
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(
        log.contains("stage=auth") && log.contains("requires credentials"),
        "{log}"
    );
}

#[test]
fn run_supervises_a_real_worker_through_the_stand_in() {
    let server = DevServer::start();
    let cloud = GrpcProxy::cloud(server.port, KEY);
    let scratch = Scratch::new("cloud-run");
    let ca = write_ca(&scratch, &cloud);
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    // The worker gets the connection from the supervisor: no TEMPORAL_* of its own.
    let worker = example_worker("document_processing.py");
    let mut cmd = against(&cloud, &ca, Some(KEY));
    cmd.args([
        "run",
        "--task-queue",
        "documents",
        "--health-listen",
        &listen,
        "--probe-interval",
        "1s",
        "--log-level",
        "debug",
    ]);
    let run = Supervised::start_with(cmd, &[], &words(&worker));

    run.wait_for_log("worker is polling", 1, PATIENCE);
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let result = server.execute("documents", "ProcessDocument", "contract.pdf");
    assert!(result.contains("contract.pdf: 20 characters"), "{result}");

    // A few probes later: still one worker, no false loss.
    let probes = run.log().matches("probe succeeded").count();
    let log = run.wait_for_log("probe succeeded", probes + 4, PATIENCE);
    assert_eq!(log.matches("worker started").count(), 1, "{log}");
    assert!(
        !log.contains("Temporal lost") && !log.contains("probe failed"),
        "{log}"
    );
    assert_no_key(&log);
    let calls = cloud.calls();
    let health_calls = calls
        .iter()
        .filter(|c| c.path.starts_with("/grpc.health.v1.Health/"))
        .count();
    assert_eq!(
        health_calls, 1,
        "once refused, the health service is not asked again: {calls:?}"
    );
}
