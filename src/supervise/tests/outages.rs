//! Temporal lost: what `--on-disconnect` does to the workers, and no start into an outage.

use std::time::Duration;

use tokio::time::{Instant, advance};

use super::*;

#[tokio::test(start_paused = true)]
async fn keep_leaves_the_worker_alone_and_starts_none_into_the_outage() {
    let fake = Fake::default();
    let config = run(&["--restart-spread", "2s"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];

    assert_eq!(
        runner.temporal_lost(),
        Next::Wait,
        "wait again, without a limit"
    );
    assert_eq!(state(&runner), RunState::TemporalLost);
    assert!(fake.group_signals().is_empty(), "the worker is left alone");

    // It exits during the outage: its restart waits for Temporal, whatever the delay.
    fake.exit(worker, 1);
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(runner.timer(), None, "no restart into the outage");
    advance(Duration::from_secs(600)).await;
    assert_eq!(runner.on_timer(), Next::Continue);
    assert_eq!(fake.started().len(), 1);

    // Back: started at a random moment within the spread.
    assert_eq!(runner.temporal_ready(), Next::Continue);
    let after = runner.timer().expect("a start is due") - Instant::now();
    assert!(after <= Duration::from_secs(2), "{after:?}");
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
    assert_eq!(state(&runner), RunState::Running);
}

#[tokio::test(start_paused = true)]
async fn an_exit_the_outage_caused_does_not_grow_the_crash_loop_delay() {
    let fake = Fake::default();
    let config = run(&[
        "--restart-delay",
        "1s",
        "--jitter",
        "0",
        "--restart-spread",
        "0",
    ]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    runner.temporal_lost();
    fake.exit(fake.started()[0], 1);
    runner.reap();
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    // The next crash, with Temporal up, backs off from --restart-delay: 1 s, not 2 s.
    fake.exit(fake.started()[1], 1);
    assert_eq!(runner.reap(), Next::CheckTemporal);
    confirm(&mut runner);
    let delay = runner.timer().map(|t| t - Instant::now());
    assert_eq!(delay, Some(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn restart_stops_the_worker_and_the_return_starts_a_new_one() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "restart", "--restart-spread", "0"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.temporal_lost(), Next::Wait);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "the stop signal, then SIGCONT");
    assert_eq!(state(&runner), RunState::Stopping);
    fake.exit(worker, 0);
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(state(&runner), RunState::WaitingForTemporal);
    assert_eq!(runner.timer(), None);
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn exit_stops_the_worker_and_ends_run_with_69() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "exit"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(
        runner.temporal_lost(),
        Next::StopWatching,
        "no more watching; stopping first"
    );
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(69));
}

#[tokio::test(start_paused = true)]
async fn ignore_only_says_so_and_keeps_watching() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "ignore"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(
        runner.temporal_lost(),
        Next::Continue,
        "the monitor goes on"
    );
    assert_eq!(state(&runner), RunState::Running);
    assert!(fake.group_signals().is_empty());
}
