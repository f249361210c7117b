//! Stopping: the stop signal goes to the worker's process group, SIGKILL follows the stop
//! timeout, nothing of the group survives, and a second SIGTERM keeps the grace period.

use std::time::{Duration, Instant};

use crate::common::*;
use nix::sys::signal::Signal;

#[test]
fn a_worker_that_ignores_sigterm_is_killed_with_its_group_after_the_stop_timeout() {
    let server = DevServer::start();
    // The worker and two grandchildren in its group all ignore SIGTERM.
    let script = "trap '' TERM; (trap '' TERM; sleep 1000) & (trap '' TERM; sleep 1000) & \
                  while :; do sleep 0.1; done";
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--stop-timeout",
            "1500ms",
        ],
        &["sh", "-c", script],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    let pgid = run.worker_pids()[0];
    eventually("the grandchildren to start", PATIENCE, || {
        children_of(pgid).len() >= 2
    });

    let asked = Instant::now();
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    let took = asked.elapsed();
    assert_eq!(code, 137, "the worker died of SIGKILL; log:\n{log}");
    assert!(
        took >= Duration::from_millis(1400),
        "SIGKILL came after {took:?}, before the stop timeout"
    );
    assert!(log.contains("stop timeout over; sent SIGKILL"), "{log}");
    assert!(
        !group_alive(pgid),
        "a process of the worker's group survived the stop"
    );
}

#[test]
fn a_graceful_worker_stops_on_sigterm_and_its_code_comes_out() {
    let server = DevServer::start();
    let mut run = Supervised::start(&["run", "--address", &server.address()], POLITE_WORKER);
    run.wait_for_log("worker started", 1, PATIENCE);
    run.wait_for_worker_loop();
    let asked = Instant::now();
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "graceful stop took {:?}",
        asked.elapsed()
    );
    assert!(log.contains("worker stopped after SIGTERM"), "{log}");
}

#[test]
fn a_second_sigterm_does_not_cut_the_grace_period() {
    let server = DevServer::start();
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--stop-timeout",
            "2s",
        ],
        &["sh", "-c", "trap '' TERM INT; while :; do sleep 0.05; done"],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    run.wait_for_worker_loop();
    let asked = Instant::now();
    run.signal(Signal::SIGTERM);
    run.wait_for_log("SIGTERM received: sent SIGTERM", 1, PATIENCE);
    run.signal(Signal::SIGINT);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 137, "{log}");
    assert!(
        asked.elapsed() >= Duration::from_millis(1900),
        "stopped after {:?}",
        asked.elapsed()
    );
    assert!(
        log.contains("SIGINT received while stopping; the grace period continues"),
        "{log}"
    );
}

#[test]
fn the_stop_signal_is_configurable() {
    let server = DevServer::start();
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--stop-signal",
            "SIGINT",
        ],
        &[
            "sh",
            "-c",
            "trap '' TERM; trap 'exit 5' INT; while :; do sleep 0.05; done",
        ],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    run.wait_for_worker_loop();
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 5, "the worker got SIGINT and exited 5; log:\n{log}");
}

#[test]
fn signals_sent_during_a_stop_still_reach_the_worker() {
    let server = DevServer::start();
    let scratch = Scratch::new("signal-in-grace");
    let got = scratch.path("got");
    // A worker that takes its time to stop, and writes down the signals it is sent meanwhile
    // (as a stuck worker asked for a stack dump with SIGQUIT or SIGUSR1 would).
    let script = format!(
        "trap 'echo term >> {got}' TERM; trap 'echo usr1 >> {got}' USR1; \
         trap 'echo quit >> {got}' QUIT; while :; do sleep 0.05; done",
        got = got.display()
    );
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--stop-timeout",
            "20s",
            "--log-level",
            "debug",
        ],
        &["sh", "-c", &script],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    run.wait_for_worker_loop();
    run.signal(Signal::SIGTERM);
    eventually("the worker to get the stop signal", PATIENCE, || {
        scratch.read("got").contains("term")
    });
    run.signal(Signal::SIGUSR1);
    run.signal(Signal::SIGQUIT);
    eventually("the worker to get SIGUSR1 and SIGQUIT", PATIENCE, || {
        let got = scratch.read("got");
        got.contains("usr1") && got.contains("quit")
    });
    let log = run.wait_for_log(
        "forwarded SIGQUIT to the worker while it stops",
        1,
        PATIENCE,
    );
    assert!(
        log.contains("forwarded SIGUSR1 to the worker while it stops"),
        "{log}"
    );
    run.signal(Signal::SIGINT);
    drop(run);
}
