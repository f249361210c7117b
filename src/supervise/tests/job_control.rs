//! SIGTSTP to the supervisor while its one worker holds the terminal: the worker's group is
//! stopped (its stop then stops the supervisor), or, with no worker, the supervisor stops.

use nix::sys::signal::Signal;

use super::*;

#[tokio::test(start_paused = true)]
async fn sigtstp_stops_the_workers_group_or_with_none_the_supervisor() {
    let fake = Fake::default();
    let config = run(&[]);
    let mut runner = runner(&config, &fake);
    // Waiting for Temporal, no worker yet: as the signal's default.
    assert_eq!(runner.job_stop(), Next::Continue);
    assert_eq!(*fake.stopped_self.borrow(), 1);

    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.job_stop(), Next::Continue);
    assert_eq!(fake.group_signals(), [(worker.as_raw(), Signal::SIGTSTP)]);
    assert_eq!(
        *fake.stopped_self.borrow(),
        1,
        "the worker's stop stops the supervisor, not the signal itself"
    );
}
