//! A Temporal outage under `run`'s default (`--on-disconnect keep`): the work in flight is not
//! lost, nothing starts into the outage, only a worker that does not poll again is replaced,
//! and no outage ends `run`. Real dev servers (with a database file where state must survive
//! the kill, as a real cluster keeps it in its database) and real Python SDK workers.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::*;

/// The lines of the slow worker's executions file that start with `what`.
fn executions(scratch: &Scratch, what: &str) -> Vec<String> {
    scratch
        .read("executions")
        .lines()
        .filter(|l| l.starts_with(what))
        .map(String::from)
        .collect()
}

#[test]
fn activities_in_flight_survive_a_short_outage_each_executed_once() {
    let mut server = DevServer::start_persistent();
    let scratch = Scratch::new("in-flight");
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let worker = slow_worker("slow", &scratch.path("executions"));
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "slow",
            "--health-listen",
            &listen,
        ],
        &words(&worker),
    );
    run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    let ids: Vec<String> = (1..=5).map(|n| format!("in-flight-{n}")).collect();
    for id in &ids {
        let out = server.cli(&[
            "workflow",
            "start",
            "--task-queue",
            "slow",
            "--type",
            "SlowWork",
            "--workflow-id",
            id,
            "--input",
            "5",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    eventually("five activities in flight", PATIENCE, || {
        executions(&scratch, "start").len() == 5
    });

    // Three seconds without Temporal, activities still running in the worker.
    let killed = Instant::now();
    server.kill();
    run.wait_for_log("Temporal lost", 1, PATIENCE);
    let (live, _) = http_get(health, "/livez");
    let (ready, body) = http_get(health, "/readyz");
    assert_eq!((live, ready), (200, 503), "{body}");
    assert!(
        body.contains("\"reason\":\"Temporal is not ready: connect:"),
        "/readyz says why: {body}"
    );
    assert!(body.contains("\"state\":\"temporal-lost\""), "{body}");
    let outage = Duration::from_secs(3).saturating_sub(killed.elapsed());
    std::thread::sleep(outage);
    server.spawn();

    for id in &ids {
        let out = server.cli(&["workflow", "result", "--workflow-id", id]);
        assert!(
            out.status.success(),
            "workflow {id}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
    let started = executions(&scratch, "start");
    let done = executions(&scratch, "done");
    assert_eq!(started.len(), 5, "each activity executed once: {started:?}");
    assert_eq!(done.len(), 5, "{done:?}");
    for id in &ids {
        let line = format!("start {id} 1 {pid}");
        assert!(started.contains(&line), "{line} in {started:?}");
    }
    let log = run.wait_for_log("worker is polling again", 1, PATIENCE);
    assert_eq!(run.worker_pids(), vec![pid], "one worker process: {log}");
    assert!(alive(pid), "{log}");
    assert!(!log.contains("restart 1"), "{log}");
    eventually("/readyz 200 again", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
}

#[test]
fn a_worker_that_exits_during_an_outage_starts_only_once_temporal_is_back() {
    let mut server = DevServer::start();
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--restart-delay",
            "1s",
            "--restart-spread",
            "500ms",
            "--initial-delay",
            "100ms",
            "--max-delay",
            "100ms",
        ],
        &["sh", "-c", "while :; do sleep 0.05; done"],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    server.kill();
    run.wait_for_log("Temporal lost", 1, PATIENCE);
    let first = run.worker_pids()[0];
    kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
    run.wait_for_log(
        "worker exited with code 137 while Temporal is lost; restart 1 once it is back",
        1,
        PATIENCE,
    );
    // Several attempts of the wait later, still nothing started into the outage.
    run.wait_for_log("Temporal not ready attempt=5", 1, PATIENCE);
    assert!(run.children().is_empty(), "{}", run.log());
    assert_eq!(run.worker_pids().len(), 1, "{}", run.log());

    server.spawn();
    let log = run.wait_for_log("worker started", 2, PATIENCE);
    let back = log.find("Temporal is back").expect("the return is logged");
    let started = log.rfind("worker started").unwrap();
    assert!(back < started, "started only after the return: {log}");
    assert!(
        log.contains("Temporal is back; starting the worker in"),
        "{log}"
    );

    // The exit the outage caused did not grow the crash-loop delay: the next crash backs off
    // from --restart-delay again (1 s at most), not from twice that.
    let second = *run.worker_pids().last().unwrap();
    kill(Pid::from_raw(second), Signal::SIGKILL).unwrap();
    let log = run.wait_for_log("restart 2 in", 1, PATIENCE);
    let line = log.lines().find(|l| l.contains("restart 2 in")).unwrap();
    let delay = line
        .split("restart 2 in ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert!(
        delay.ends_with("ms") || delay == "1s",
        "restart 2 after {delay}, not from a grown crash-loop delay: {line}"
    );
}

/// A worker whose client gives up as soon as Temporal's port refuses: it checks the port
/// every 50 ms and exits 1 at the first refusal (also when started into an outage).
fn quitter(port: u16) -> Vec<String> {
    let script =
        format!("while : 3<>/dev/tcp/127.0.0.1/{port}; do sleep 0.05; done 2>/dev/null; exit 1");
    vec!["bash".into(), "-c".into(), script]
}

/// The delay a `restart N in DELAY` line of the log gives, in milliseconds.
fn restart_delay_ms(log: &str, n: u32) -> f64 {
    let marker = format!("restart {n} in ");
    let line = log.lines().find(|l| l.contains(&marker)).unwrap();
    let delay = line
        .split(&marker)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next();
    let delay = delay.unwrap();
    match delay.strip_suffix("ms") {
        Some(ms) => ms.parse().unwrap(),
        None => delay.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0,
    }
}

#[test]
fn a_worker_that_exits_as_temporal_goes_is_not_restarted_into_the_outage() {
    let mut server = DevServer::start();
    let worker = quitter(server.port);
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--restart-delay",
            "0.2s",
            "--restart-max-delay",
            "0.5s",
            "--initial-delay",
            "100ms",
            "--max-delay",
            "100ms",
        ],
        &words(&worker),
    );
    run.wait_for_log("worker running", 1, PATIENCE);
    server.kill();
    // The worker is first to go, seconds before Temporal counts as lost; its exit waits for
    // a probe, which fails: Temporal is in doubt, and nothing starts until it is there.
    let log = run.wait_for_log("Temporal lost", 1, PATIENCE);
    assert_eq!(log.matches("worker started").count(), 1, "{log}");
    run.wait_for_log(
        "worker exited with code 1 while Temporal is in doubt; restart 1 once a probe finds it \
         there",
        1,
        PATIENCE,
    );
    let log = run.wait_for_log("Temporal not ready attempt=3", 1, PATIENCE);
    assert_eq!(log.matches("worker started").count(), 1, "{log}");
    assert!(run.children().is_empty(), "{log}");

    server.spawn();
    let log = run.wait_for_log("worker running", 2, PATIENCE);
    let back = log.find("Temporal is back").expect("the return is logged");
    assert!(back < log.rfind("worker started").unwrap(), "{log}");

    // The exit the outage caused did not grow the crash-loop delay: a crash with Temporal
    // there backs off from --restart-delay (jitter only shortens it), not from twice that.
    let second = *run.worker_pids().last().unwrap();
    kill(Pid::from_raw(second), Signal::SIGKILL).unwrap();
    let log = run.wait_for_log("restart 2 in", 1, PATIENCE);
    let delay = restart_delay_ms(&log, 2);
    assert!(delay <= 200.0, "restart 2 after {delay} ms: {log}");
}

#[test]
fn a_worker_frozen_through_an_outage_is_replaced_after_its_poller_deadline() {
    let mut server = DevServer::start();
    let worker = plain_worker("frozen", &[]);
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "frozen",
            "--poller-deadline",
            "5s",
            "--stop-timeout",
            "10s",
        ],
        &words(&worker),
    );
    let log = run.wait_for_log("worker is polling", 1, PATIENCE);
    // The process that polls is the newest one started (on a loaded machine a first one may
    // have exited before it polled and been restarted); the counts below start from here.
    let (started, polling) = (
        log.matches("worker started").count(),
        log.matches("worker is polling").count(),
    );
    let frozen = *run.worker_pids().last().expect("a worker started");
    kill(Pid::from_raw(frozen), Signal::SIGSTOP).unwrap();
    server.kill();
    run.wait_for_log("Temporal lost", 1, PATIENCE);
    server.spawn();
    let log = run.wait_for_log(
        "not polling again within 5s of Temporal's return",
        1,
        PATIENCE,
    );
    assert!(
        log.contains("this worker has not polled frozen since Temporal came back"),
        "the finding says what was seen: {log}"
    );
    // Stopped gracefully (the stop signal, then SIGCONT), and a new worker polls.
    run.wait_for_log("worker started", started + 1, PATIENCE);
    let log = run.wait_for_log("worker is polling", polling + 1, PATIENCE);
    assert!(!log.contains("stop timeout over"), "{log}");
    eventually("the frozen worker gone", PATIENCE, || !alive(frozen));
    assert_eq!(run.children().len(), 1, "{log}");
}

#[test]
fn a_long_outage_ends_run_in_no_mode_whatever_max_retries() {
    let mut server = DevServer::start();
    let quick = [
        "--max-retries",
        "2",
        "--initial-delay",
        "100ms",
        "--max-delay",
        "100ms",
    ];
    let address = server.address();
    let start = |mode: &str| {
        let mut args = vec!["run", "--address", &address, "--on-disconnect", mode];
        args.extend(quick);
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        Supervised::start(&words(&args), POLITE_WORKER)
    };
    let mut keep = start("keep");
    let mut restart = start("restart");
    keep.wait_for_log("worker started", 1, PATIENCE);
    restart.wait_for_log("worker started", 1, PATIENCE);
    let kept = keep.worker_pids()[0];

    server.kill();
    // Far more attempts than --max-retries 2 allowed the first wait.
    keep.wait_for_log("Temporal not ready attempt=6", 1, PATIENCE);
    restart.wait_for_log("Temporal not ready attempt=6", 1, PATIENCE);
    assert!(keep.running(), "{}", keep.log());
    assert!(restart.running(), "{}", restart.log());
    assert!(alive(kept), "{}", keep.log());

    server.spawn();
    keep.wait_for_log("Temporal is back", 1, PATIENCE);
    restart.wait_for_log("worker started", 2, PATIENCE);
    assert_eq!(keep.worker_pids(), vec![kept]);
    assert!(!keep.log().contains("giving up"), "{}", keep.log());
}
