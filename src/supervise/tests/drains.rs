//! Stops drain the worker through its endpoint first: the stop signal waits for the drain's
//! report, an orderly stop exits 0, and SIGKILL stays at the end of the stop timeout.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, advance};

use super::*;
use crate::endpoint::{DrainEnd, DrainReport};

/// `run` with its default endpoint and a worker.
fn run_with_endpoint(options: &[&str]) -> Config {
    let mut args = vec!["run"];
    args.extend(options);
    args.extend(["--", "sh", "-c", "exit 0"]);
    config(&args)
}

#[tokio::test(start_paused = true)]
async fn a_stop_drains_first_then_signals_and_an_orderly_stop_exits_0() {
    let fake = Fake::default();
    let config = run_with_endpoint(&["--stop-timeout", "25s", "--stop-grace", "5s"]);
    let (mut runner, mut drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(state(&runner), RunState::Draining);
    assert!(fake.group_signals().is_empty(), "no signal while draining");
    // The worker held nothing: its drain ends at once.
    let (index, report) = drained.recv().await.expect("a drain report");
    assert_eq!(report.end, DrainEnd::Completed);
    assert_eq!(runner.on_drained(index, report), Next::Continue);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "the stop signal after the drain");
    // Killed by SIGTERM after a drain that left nothing: an orderly stop.
    fake.exit(worker, 128 + Signal::SIGTERM as i32);
    assert_eq!(runner.reap(), Next::Exit(0));
}

#[tokio::test(start_paused = true)]
async fn a_drain_that_abandons_work_keeps_the_signal_code_and_sigkill_comes_on_time() {
    let fake = Fake::default();
    let config = run_with_endpoint(&["--stop-timeout", "25s", "--stop-grace", "5s"]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    runner.stop_requested(Signal::SIGTERM);
    // The drain ran to its deadline, 20 s in, with a task left.
    advance(Duration::from_secs(20)).await;
    let report = DrainReport {
        end: DrainEnd::Deadline,
        tally: Default::default(),
        left: 1,
        left_words: "1 activity".into(),
        polls_open: 0,
        took: Duration::from_secs(20),
    };
    runner.on_drained(0, report);
    // SIGKILL at the end of the stop timeout, 5 s after the stop signal.
    let kill_in = runner.timer().map(|t| t - Instant::now());
    assert_eq!(kill_in, Some(Duration::from_secs(5)));
    fake.exit(worker, 128 + Signal::SIGTERM as i32);
    assert_eq!(runner.reap(), Next::Exit(143));
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_exits_while_draining_ends_the_stop() {
    let fake = Fake::default();
    let config = run_with_endpoint(&[]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    runner.stop_requested(Signal::SIGTERM);
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(0));
}

#[tokio::test(start_paused = true)]
async fn a_wedged_worker_is_not_drained() {
    let fake = Fake::default();
    let config = run_with_endpoint(&[]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    runner.replicas[0].speaks_tls(runner.launch.os);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "stopped at once, not drained");
}
