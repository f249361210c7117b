//! When `run` ends and with what code.

use nix::sys::signal::Signal;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_stop_signal_ignored_for_the_stop_timeout_gets_sigkill() {
    let fake = Fake::default();
    let config = run(&["--stop-timeout", "5s"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(
        fire_timer(&mut runner).await,
        Next::Continue,
        "SIGKILL sent"
    );
    // The killed worker is reaped (SIGCHLD, or the next look at its group).
    assert_eq!(runner.reap(), Next::Exit(137));
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, [Signal::SIGTERM, Signal::SIGCONT, Signal::SIGKILL]);
    assert!(!fake.group_alive(worker));
}

const THREE: &str = r#"
[workers.a]
command = ["sh", "-c", "exit 0"]

[workers.b]
command = ["sh", "-c", "exit 0"]

[workers.c]
command = ["sh", "-c", "exit 0"]
optional = true
"#;

#[tokio::test(start_paused = true)]
async fn a_stop_ends_with_the_first_non_zero_code_in_file_order() {
    // (exit codes of a, b and the optional c after SIGTERM, the code run ends with)
    let cases = [
        ([0, 0, 0], 0),
        ([0, 5, 0], 5),
        ([3, 5, 0], 3),
        ([0, 0, 9], 0),
    ];
    for (codes, expected) in cases {
        let fake = Fake::default();
        let config = config_file(THREE, &[]);
        let mut runner = runner(&config, &fake);
        runner.temporal_ready();
        assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
        for (pid, code) in fake.started().into_iter().zip(codes) {
            fake.exit(pid, code);
        }
        assert_eq!(runner.reap(), Next::Exit(expected), "{codes:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_worker_ends_run_unless_optional() {
    let file = format!("restart = \"never\"\n{THREE}");
    // The optional worker fails: run goes on.
    let fake = Fake::default();
    let config = config_file(&file, &[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let [a, b, c] = fake.started()[..] else {
        panic!("three workers");
    };
    fake.exit(c, 4);
    assert_eq!(runner.reap(), Next::Continue);
    assert!(fake.group_signals().is_empty(), "nobody else is stopped");
    // A non-optional one fails: the others are stopped, run ends with its code.
    fake.exit(b, 7);
    assert_eq!(runner.reap(), Next::Continue);
    let stopped: Vec<_> = fake.group_signals().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        stopped,
        [a.as_raw(), a.as_raw()],
        "a gets SIGTERM and SIGCONT"
    );
    fake.exit(a, 0);
    assert_eq!(runner.reap(), Next::Exit(7));
}

#[tokio::test(start_paused = true)]
async fn every_worker_done_by_itself_ends_run() {
    let file = format!("restart = \"on-failure\"\n{THREE}");
    let fake = Fake::default();
    let config = config_file(&file, &[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let [a, b, _c] = fake.started()[..] else {
        panic!("three workers");
    };
    fake.exit(a, 0);
    assert_eq!(runner.reap(), Next::Continue, "b still runs");
    fake.exit(b, 0);
    // Both non-optional workers are done: the optional one is stopped, then run ends.
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(state(&runner), RunState::Stopping);
}

#[tokio::test(start_paused = true)]
async fn a_loss_while_stopping_ends_the_watch_and_changes_no_code() {
    let fake = Fake::default();
    let config = run(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(runner.temporal_lost(), Next::StopWatching);
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(0), "the signal's rule, not 69");
}
