//! A worker's exit is itself a sign: no restart before a probe made since the exit found
//! Temporal well, and none while the monitor doubts it (its watch ended, a probe failed),
//! exactly as during a loss; the crash-loop delay does not grow for exits the outage caused.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, advance};

use super::*;
use crate::serve::states::{RestartReason, WorkerState};

/// `run` with a 1 s restart delay (doubling to 4 s), no jitter and no spread.
fn quick(extra: &[&str]) -> Config {
    let mut options = vec![
        "--restart-delay",
        "1s",
        "--restart-max-delay",
        "4s",
        "--jitter",
        "0",
        "--restart-spread",
        "0",
    ];
    options.extend(extra);
    run(&options)
}

fn worker_state(runner: &Runner<'_>) -> WorkerState {
    runner.launch.status.worker_state(0)
}

/// The delay until the runner's next timer.
fn delay(runner: &Runner<'_>) -> Option<Duration> {
    runner.timer().map(|t| t - Instant::now())
}

#[tokio::test(start_paused = true)]
async fn an_exit_waits_for_a_probe_made_after_it() {
    let fake = Fake::default();
    let config = quick(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let before = Instant::now();
    advance(Duration::from_millis(10)).await;
    fake.exit(fake.started()[0], 1);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    assert_eq!(worker_state(&runner), WorkerState::WaitingForTemporal);
    assert_eq!(runner.timer(), None, "no restart is due before the check");

    // A probe that started before the exit proves nothing about it.
    assert_eq!(runner.temporal_confirmed(before), Next::Continue);
    assert_eq!(runner.timer(), None);

    assert_eq!(confirm(&mut runner), Next::Continue);
    assert_eq!(delay(&runner), Some(Duration::from_secs(1)));
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_exit_as_temporal_goes_is_held_until_a_probe_finds_it_and_grows_no_delay() {
    let fake = Fake::default();
    let config = quick(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    // The worker was first to see Temporal go: its check fails, the monitor doubts.
    fake.exit(fake.started()[0], 1);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    assert_eq!(runner.temporal_suspect(), Next::Continue);
    assert_eq!(worker_state(&runner), WorkerState::WaitingForTemporal);
    assert_eq!(runner.timer(), None);
    advance(Duration::from_secs(600)).await;
    assert_eq!(runner.on_timer(), Next::Continue);
    assert_eq!(fake.started().len(), 1, "nothing started into the outage");
    assert_eq!(runner.launch.status.restarts(0, RestartReason::Exited), 1);

    // A good probe: started (spread 0), and the next crash backs off 1 s, not 2 s.
    assert_eq!(confirm(&mut runner), Next::Continue);
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
    fake.exit(fake.started()[1], 1);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    confirm(&mut runner);
    assert_eq!(delay(&runner), Some(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn exits_while_in_doubt_are_held_as_in_a_loss_until_the_return() {
    let fake = Fake::default();
    let config = quick(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(runner.temporal_suspect(), Next::Continue);
    fake.exit(fake.started()[0], 1);
    assert_eq!(
        runner.reap(),
        Next::Continue,
        "no check: the monitor probes anyway"
    );
    assert_eq!(runner.timer(), None);
    assert_eq!(runner.temporal_lost(), Next::Wait);
    assert_eq!(runner.timer(), None);
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2, "started after the return");
}

#[tokio::test(start_paused = true)]
async fn a_restart_delay_over_while_in_doubt_waits_for_a_good_probe() {
    let fake = Fake::default();
    let config = quick(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    fake.exit(fake.started()[0], 1);
    runner.reap();
    confirm(&mut runner);
    assert_eq!(delay(&runner), Some(Duration::from_secs(1)));
    runner.temporal_suspect();
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 1, "not started while in doubt");
    assert_eq!(worker_state(&runner), WorkerState::WaitingForTemporal);
    confirm(&mut runner);
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_exit_waiting_for_its_check_is_held_by_a_loss() {
    // With a failure threshold of 1 the first failed probe is the loss itself.
    let fake = Fake::default();
    let config = quick(&["--failure-threshold", "1"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    fake.exit(fake.started()[0], 1);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    assert_eq!(runner.temporal_lost(), Next::Wait);
    assert_eq!(runner.timer(), None);
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn ignore_restarts_without_a_check_in_doubt_as_in_a_loss() {
    let fake = Fake::default();
    let config = quick(&["--on-disconnect", "ignore"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    runner.temporal_suspect();
    fake.exit(fake.started()[0], 1);
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(delay(&runner), Some(Duration::from_secs(1)));
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_an_exit_waits_for_its_check_ends_run() {
    let fake = Fake::default();
    let config = quick(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    fake.exit(fake.started()[0], 3);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    // As for a worker backing off: nothing to stop, and it counts as never started.
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Exit(0));
    assert_eq!(confirm(&mut runner), Next::Continue);
    assert_eq!(fake.started().len(), 1);
}
