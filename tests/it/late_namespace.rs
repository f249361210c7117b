//! A server that answers but is not ready yet: the namespace not registered (Temporal's
//! `auto-setup` registers `default` after the frontend serves), or the frontend's health not
//! SERVING (every frontend starts so). `wait` looks again every second on the open connection,
//! without spending the schedule's attempts, and is ready as soon as the server is; a server's
//! rate limiter (ResourceExhausted) instead gets the next attempt on the jittered schedule.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::grpc_proxy::GrpcProxy;
use crate::common::*;

/// `wait` whose schedule alone would not look again for 10 s.
fn slow_wait(address: &str, extra: &[&str]) -> Child {
    supervisor()
        .args(["wait", "--address", address])
        .args(["--initial-delay", "10s", "--max-retries", "0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_late_namespace_is_seen_within_a_second_at_about_one_request_a_second() {
    let server = DevServer::start();
    let missing = || server.requests_in("DescribeNamespace", Some("_unknown_"));
    let before = missing();
    let started = Instant::now();
    let child = slow_wait(&server.address(), &["--namespace", "late"]);
    std::thread::sleep(Duration::from_secs(5));
    // While it is missing: the server counts these calls under `_unknown_` (a second late).
    let sent = missing() - before;
    let looked_for = started.elapsed();
    let created = server.cli(&["operator", "namespace", "create", "-n", "late"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let registered = Instant::now();
    let out = wait_output(child, PATIENCE);
    let lag = registered.elapsed();
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    // The requirement is 1.5 s; the schedule alone would have taken about 6 s more.
    assert!(
        lag < Duration::from_secs(4),
        "ready {lag:?} after the namespace; {log}"
    );
    assert_eq!(
        log.matches("Temporal not ready").count(),
        1,
        "the looks do not spend attempts: {log}"
    );

    assert!(
        (sent as f64) <= 1.2 * looked_for.as_secs_f64(),
        "{sent} DescribeNamespace in {looked_for:?}: more than 1.2 a second"
    );
    assert!(
        sent >= 2,
        "it looked again only {sent} times in {looked_for:?}"
    );
}

#[test]
fn a_frontend_not_serving_yet_is_seen_once_it_serves() {
    let server = DevServer::start();
    let proxy = GrpcProxy::plain(server.port);
    proxy.set_not_serving(true);
    let child = slow_wait(&proxy.address(), &[]);
    std::thread::sleep(Duration::from_secs(3));
    proxy.set_not_serving(false);
    let serving = Instant::now();
    let out = wait_output(child, PATIENCE);
    let lag = serving.elapsed();
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    assert!(
        lag < Duration::from_secs(4),
        "ready {lag:?} after it served; {log}"
    );
    assert!(
        log.contains("stage=health") && log.contains("WorkflowService is NOT_SERVING"),
        "{log}"
    );
    let checks = proxy
        .calls()
        .iter()
        .filter(|c| c.path == "/grpc.health.v1.Health/Check")
        .count();
    assert!(checks >= 3, "it looked again: {checks} health checks");
}

#[test]
fn a_rate_limited_attempt_waits_for_the_jittered_schedule() {
    let server = DevServer::start();
    let proxy = GrpcProxy::plain(server.port);
    proxy.exhaust(1);
    let started = Instant::now();
    let (out, _) = run(
        supervisor()
            .args(["wait", "--address", &proxy.address()])
            .args(["--initial-delay", "2s", "--jitter", "0.2"]),
        PATIENCE,
    );
    let took = started.elapsed();
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    assert!(
        log.contains("rate limited by the server (ResourceExhausted)"),
        "the reason says so: {log}"
    );
    // Never at once: the next attempt comes after the jittered initial delay (1.6 s to 2 s).
    assert!(
        took >= Duration::from_millis(1600),
        "retried after {took:?}: {log}"
    );
    assert!(log.contains("attempt=2"), "{log}");
}
