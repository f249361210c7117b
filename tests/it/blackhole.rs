//! A blackholed server: in a network namespace of the test's own (loopback only; no traffic
//! leaves the machine), iptables drops every packet to the server's port. `check` ends at its
//! attempt timeout, `wait` gives up on schedule, and `run` stops its worker within the failure
//! window it documents (keepalive interval and timeout, then failed probes), at its defaults.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn check_and_wait_are_bounded_by_their_timeouts() {
    let ns = NetNs::new("blackhole");
    let server = DevServer::start_in(&ns);
    ns.blackhole(server.port);

    let started = Instant::now();
    let (out, took) = run(
        ns.supervisor()
            .args(["check", "--address", &server.address()])
            .args(["--attempt-timeout", "2s"]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(
        log.contains("stage=connect") && log.contains("no answer within the attempt timeout (2s)"),
        "{log}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "ended before its timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "not bounded: {took:?}");

    // Three attempts of 1 s with 0.5 s and 1 s between them: 4.5 s on schedule.
    let (out, took) = run(
        ns.supervisor()
            .args(["wait", "--address", &server.address()])
            .args(["--attempt-timeout", "1s", "--max-retries", "3"])
            .args(["--initial-delay", "500ms", "--jitter", "0"]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert_eq!(
        log.matches("no answer within the attempt timeout").count(),
        3,
        "{log}"
    );
    assert!(
        took >= Duration::from_millis(4500),
        "ahead of schedule: {took:?}"
    );
    assert!(took < Duration::from_secs(30), "behind schedule: {took:?}");
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn run_notices_a_blackholed_server_and_keeps_the_worker() {
    let ns = NetNs::new("blackhole-run");
    let server = DevServer::start_in(&ns);
    let scratch = Scratch::new("blackhole-run");
    let script = format!(
        "trap 'echo stopped > {}; exit 0' TERM; while :; do sleep 0.05; done",
        scratch.path("stopped").display()
    );
    let mut cmd = ns.supervisor();
    cmd.args([
        "run",
        "--address",
        &server.address(),
        "--log-level",
        "debug",
    ]);
    let run = Supervised::start_with(cmd, &[], &["sh", "-c", &script]);
    // A server cut off while the watch opens fails that probe instead.
    run.wait_for_log("health watch open", 1, PATIENCE);

    let blackholed = Instant::now();
    ns.blackhole(server.port);
    let log = run.wait_for_log("Temporal lost", 1, PATIENCE);
    let took = blackholed.elapsed();
    // Documented: at most keepalive interval + timeout (12 + 3 s), then the probes' timeout
    // (3 s) and two recheck intervals: 20 s. Generous here for a loaded machine.
    assert!(
        took < Duration::from_secs(45),
        "lost {took:?} after the blackhole; {log}"
    );
    assert!(log.contains("connection lost"), "{log}");
    assert!(
        log.contains("no answer within the probe timeout (3s)"),
        "{log}"
    );

    // Packets flow again: Temporal is back, the worker was never touched.
    ns.unblock(server.port);
    let log = run.wait_for_log("Temporal is back", 1, PATIENCE);
    assert_eq!(run.worker_pids().len(), 1, "{log}");
    assert!(scratch.read("stopped").is_empty(), "{log}");
}
