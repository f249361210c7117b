//! `run` while Temporal comes and goes, with the other `--on-disconnect` modes (the default,
//! `keep`, is in outage.rs): under `restart` the worker is stopped when Temporal is lost and a
//! new one starts, spread out, when it is back; `exit` and `ignore` do what they say; a frozen
//! server counts as failing; a short blip changes nothing; cycles leak no processes or file
//! descriptors.

use std::time::{Duration, Instant};

use crate::common::grpc_proxy::GrpcProxy;
use crate::common::*;

/// A worker that writes "start PID" once its trap is set and, on SIGTERM, "stop PID" to `log`.
fn worker(log: &std::path::Path) -> Vec<String> {
    let script = format!(
        "trap 'echo stop $$ >> {log}; exit 0' TERM; echo start $$ >> {log}; \
         while :; do sleep 0.05; done",
        log = log.display()
    );
    vec!["sh".into(), "-c".into(), script]
}

/// Probe every second, lost after three failures: a three-second failure window.
fn options(server: &DevServer) -> Vec<String> {
    [
        "run",
        "--address",
        &server.address(),
        "--probe-interval",
        "1s",
        "--probe-timeout",
        "500ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--failure-threshold", "3", "--stop-timeout", "5s"].map(String::from))
    .collect()
}

fn start(server: &DevServer, extra: &[&str], worker_log: &std::path::Path) -> Supervised {
    let mut args = options(server);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let worker = worker(worker_log);
    let worker: Vec<&str> = worker.iter().map(String::as_str).collect();
    Supervised::start(&args, &worker)
}

fn lines(scratch: &Scratch, prefix: &str) -> usize {
    scratch
        .read("worker.log")
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[test]
fn on_disconnect_restart_stops_the_worker_and_the_return_starts_a_new_one() {
    let mut server = DevServer::start();
    let scratch = Scratch::new("disconnect");
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let run = start(
        &server,
        &["--on-disconnect", "restart", "--health-listen", &listen],
        &scratch.path("worker.log"),
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to start", PATIENCE, || {
        lines(&scratch, "start") == 1
    });

    let killed = Instant::now();
    server.kill();
    eventually("the worker to be stopped", PATIENCE, || {
        lines(&scratch, "stop") == 1
    });
    let stopped = killed.elapsed();
    assert!(
        stopped < Duration::from_secs(4),
        "worker stopped {stopped:?} after the server died (failure window 3 s + 1 s); log:\n{}",
        run.log()
    );
    eventually("no worker while Temporal is down", PATIENCE, || {
        run.children().is_empty()
    });

    std::thread::sleep(Duration::from_secs(1));
    assert!(
        run.children().is_empty(),
        "a worker started while Temporal was down"
    );
    server.spawn();
    let back = Instant::now();
    run.wait_for_log("worker started", 2, PATIENCE);
    let restarted = back.elapsed();
    assert!(
        restarted < Duration::from_secs(4),
        "new worker {restarted:?} after the server was back (spread over 2 s); log:\n{}",
        run.log()
    );
    eventually("exactly one worker", PATIENCE, || run.children().len() == 1);
    let log = run.log();
    assert!(log.contains("Temporal lost: sent SIGTERM"), "{log}");
    assert!(log.contains("waiting for Temporal to come back"), "{log}");
    assert!(
        log.contains("Temporal is back; starting the worker in"),
        "{log}"
    );
    let (_, body) = http_get(health, "/readyz");
    assert!(
        body.contains("\"restarts_by_reason\":{\"temporal-lost\":1}"),
        "{body}"
    );
}

#[test]
fn kill_and_restart_cycles_keep_exactly_one_worker_and_leak_nothing() {
    let mut server = DevServer::start();
    let scratch = Scratch::new("cycles");
    let run = start(
        &server,
        &["--on-disconnect", "restart", "--log-level", "debug"],
        &scratch.path("worker.log"),
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("one worker", PATIENCE, || run.children().len() == 1);
    // Settled: the monitor holds its connection and health watch.
    run.wait_for_log("health watch open", 1, PATIENCE);
    let baseline_fds = run.fd_count();

    for cycle in 1..=3 {
        server.kill();
        eventually("the worker to stop", PATIENCE, || {
            lines(&scratch, "stop") == cycle
        });
        eventually("no worker while down", PATIENCE, || {
            run.children().is_empty()
        });
        server.spawn();
        run.wait_for_log("worker started", cycle + 1, PATIENCE);
        eventually("exactly one worker while up", PATIENCE, || {
            run.children().len() == 1
        });
        eventually(
            &format!("file descriptors back to {baseline_fds} after cycle {cycle}"),
            Duration::from_secs(15),
            || run.fd_count() == baseline_fds,
        );
    }
    let pids = run.worker_pids();
    assert_eq!(pids.len(), 4, "{}", run.log());
    for old in &pids[..3] {
        assert!(
            !alive(*old) && !group_alive(*old),
            "worker {old} of an earlier cycle survives"
        );
    }
    assert_eq!(run.children(), vec![pids[3]]);
}

#[test]
fn on_disconnect_exit_stops_the_worker_and_exits_69() {
    let mut server = DevServer::start();
    let scratch = Scratch::new("exit-mode");
    let mut run = start(
        &server,
        &["--on-disconnect", "exit"],
        &scratch.path("worker.log"),
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to start", PATIENCE, || {
        lines(&scratch, "start") == 1
    });
    server.kill();
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 69, "{log}");
    assert_eq!(
        lines(&scratch, "stop"),
        1,
        "the worker was stopped gracefully"
    );
    assert!(log.contains("exiting 69 (--on-disconnect exit)"), "{log}");
}

#[test]
fn on_disconnect_ignore_keeps_the_worker() {
    let mut server = DevServer::start();
    let scratch = Scratch::new("ignore-mode");
    let run = start(
        &server,
        &["--on-disconnect", "ignore"],
        &scratch.path("worker.log"),
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    let worker = run.worker_pids()[0];
    server.kill();
    run.wait_for_log(
        "keeping the workers running (--on-disconnect ignore)",
        1,
        PATIENCE,
    );
    server.spawn();
    run.wait_for_log("Temporal is back", 1, PATIENCE);
    assert!(alive(worker), "the worker must keep running");
    assert_eq!(run.worker_pids(), vec![worker]);
    assert_eq!(lines(&scratch, "stop"), 0);
}

#[test]
fn a_frozen_server_fails_probes_at_the_probe_timeout() {
    let server = DevServer::start();
    let scratch = Scratch::new("frozen");
    let run = start(&server, &[], &scratch.path("worker.log"));
    run.wait_for_log("worker started", 1, PATIENCE);
    server.freeze();
    let log = run.wait_for_log("Temporal lost", 1, PATIENCE);
    assert!(
        log.contains("no answer within the probe timeout (500ms)"),
        "{log}"
    );
    assert!(log.matches("probe failed").count() >= 3, "{log}");
    server.resume();
    let log = run.wait_for_log("Temporal is back", 1, PATIENCE);
    assert_eq!(run.worker_pids().len(), 1, "the worker was kept: {log}");
    assert_eq!(lines(&scratch, "stop"), 0, "{log}");
}

#[test]
fn a_blip_shorter_than_the_failure_window_changes_nothing() {
    let server = DevServer::start();
    // The network between the supervisor and Temporal, cut for one second: the failure
    // window is three probes one second apart.
    let proxy = GrpcProxy::plain(server.port);
    let scratch = Scratch::new("blip");
    let mut args = options(&server);
    args[2] = proxy.address();
    args.extend(["--log-level", "debug"].map(String::from));
    let worker = worker(&scratch.path("worker.log"));
    let run = Supervised::start(&words(&args), &words(&worker));
    run.wait_for_log("health watch open", 1, PATIENCE);
    proxy.cut_for(Duration::from_secs(1));
    run.wait_for_log("probe failed", 1, PATIENCE);
    // Back: a good probe opens the watch again, and nothing else happened.
    let log = run.wait_for_log("health watch open", 2, PATIENCE);
    assert_eq!(run.worker_pids().len(), 1, "{log}");
    assert_eq!(lines(&scratch, "stop"), 0, "{log}");
    assert!(!log.contains("Temporal lost"), "{log}");
}
