//! The restart policy for a worker that exits by itself: crash loops back off more and more,
//! `--max-restarts` ends them with the worker's code, `never` and `always` do what they say.

use std::time::Instant;

use crate::common::*;

/// Start times of the worker, from a file it appends to.
fn starts(scratch: &Scratch) -> Vec<f64> {
    scratch
        .read("starts")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_crash_looping_worker_restarts_more_and_more_slowly_then_gives_up() {
    let server = DevServer::start();
    let scratch = Scratch::new("crash-loop");
    let script = format!(
        "date +%s.%N >> {}; exit 3",
        scratch.path("starts").display()
    );
    let begun = Instant::now();
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--restart-delay",
            "200ms",
            "--restart-max-delay",
            "10s",
            "--jitter",
            "0",
            "--max-restarts",
            "4",
        ],
        &["sh", "-c", &script],
    );
    eventually("the fourth start", PATIENCE, || starts(&scratch).len() >= 4);
    // No busy loop: over the seconds of backing off, the supervisor used little CPU.
    let cpu = cpu_seconds(run.pid());
    assert!(
        cpu < 0.5,
        "the supervisor used {cpu}s of CPU in {:?}",
        begun.elapsed()
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(
        code, 3,
        "after the last restart run exits with the worker's code; log:\n{log}"
    );
    assert!(log.contains("restart limit reached"), "{log}");

    let times = starts(&scratch);
    assert_eq!(times.len(), 5, "one start and four restarts; log:\n{log}");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Delays 0.2, 0.4, 0.8, 1.6 s (plus a readiness check each).
    for (gap, delay) in gaps.iter().zip([0.2, 0.4, 0.8, 1.6]) {
        assert!(
            *gap >= delay * 0.95,
            "gap {gap:.3}s shorter than the {delay}s delay: {gaps:?}"
        );
    }
    // Each gap also carries a readiness check (tens of milliseconds, more on a loaded machine),
    // so neighbouring gaps need not differ by the full factor; across the loop the growth is
    // unmistakable, and a constant delay would fail this.
    assert!(gaps[3] > gaps[0] * 2.0, "delays must grow: {gaps:?}");
}

#[test]
fn restart_always_restarts_a_worker_that_exits_0_and_never_does_not() {
    let server = DevServer::start();
    let scratch = Scratch::new("always");
    let script = format!(
        "date +%s.%N >> {}; exit 0",
        scratch.path("starts").display()
    );
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--restart",
            "always",
            "--restart-delay",
            "100ms",
            "--max-restarts",
            "2",
        ],
        &["sh", "-c", &script],
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert_eq!(starts(&scratch).len(), 3, "{log}");

    let mut run = Supervised::start(
        &["run", "--address", &server.address(), "--restart", "never"],
        &["sh", "-c", "exit 9"],
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 9, "{log}");
    assert_eq!(log.matches("worker started").count(), 1, "{log}");
}

#[test]
fn the_restart_delay_starts_over_after_a_stable_run() {
    let server = DevServer::start();
    let scratch = Scratch::new("stable");
    // First run lasts 1.2 s (stable, given --restart-reset-after 1s), later ones crash at once.
    let script = format!(
        "date +%s.%N >> {f}; if [ $(wc -l < {f}) -eq 2 ]; then sleep 1.2; fi; exit 1",
        f = scratch.path("starts").display()
    );
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--restart-delay",
            "300ms",
            "--jitter",
            "0",
            "--restart-reset-after",
            "1s",
            "--max-restarts",
            "3",
        ],
        &["sh", "-c", &script],
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 1, "{log}");
    let times = starts(&scratch);
    assert_eq!(times.len(), 4, "{log}");
    // Gaps: 0.3 s; then 1.2 s run + 0.3 s (the delay started over); then 0.6 s.
    let restart_delays: Vec<f64> = log
        .lines()
        .filter_map(|l| {
            l.split(" in ")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(String::from)
        })
        .filter(|d| d.ends_with("ms"))
        .collect::<Vec<_>>()
        .iter()
        .map(|d| d.trim_end_matches("ms").parse::<f64>().unwrap())
        .collect();
    assert_eq!(restart_delays, vec![300.0, 300.0, 600.0], "{log}");
}
