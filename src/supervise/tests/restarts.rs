//! A worker's own exits: its restart policy and crash-loop backoff.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_crashing_worker_backs_off_and_starts_again() {
    let fake = Fake::default();
    let config = run(&["--restart-delay", "1s", "--jitter", "0"]);
    let mut runner = runner(&config, &fake);
    assert_eq!(runner.temporal_ready(), Next::Continue);
    fake.exit(fake.started()[0], 3);
    assert_eq!(
        runner.reap(),
        Next::CheckTemporal,
        "Temporal is checked first"
    );
    assert_eq!(runner.timer(), None, "nothing is due before the check");
    assert_eq!(confirm(&mut runner), Next::Continue);
    let delay = runner.timer().map(|t| t - Instant::now());
    assert_eq!(delay, Some(Duration::from_secs(1)));
    assert_eq!(fake.started().len(), 1, "nothing starts before the delay");
    assert_eq!(fire_timer(&mut runner).await, Next::Continue);
    assert_eq!(fake.started().len(), 2, "started again after the delay");
}

#[tokio::test(start_paused = true)]
async fn the_restart_policy_decides_which_exits_end_run() {
    // (policy, exit code, whether run ends, and with what)
    let cases = [
        ("never", 0, Some(0)),
        ("never", 3, Some(3)),
        ("on-failure", 0, Some(0)),
        ("on-failure", 3, None),
        ("always", 0, None),
    ];
    for (policy, code, ends) in cases {
        let fake = Fake::default();
        let config = run(&["--restart", policy]);
        let mut runner = runner(&config, &fake);
        runner.temporal_ready();
        fake.exit(fake.started()[0], code);
        let expected = match ends {
            Some(c) => Next::Exit(c),
            // A restart waits for a fresh check of Temporal.
            None => Next::CheckTemporal,
        };
        assert_eq!(runner.reap(), expected, "--restart {policy}, exit {code}");
    }
}
