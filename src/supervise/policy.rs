//! The restart policy, as a pure function: what follows when a worker process exits by
//! itself. Kubernetes' CrashLoopBackOff in small: delays from `restart_delay` doubling (by
//! `backoff_factor`) up to `restart_max_delay`, with jitter, starting over once a process has
//! run `restart_reset_after`; after `max_restarts` restarts (0: no limit) the worker is done.

use std::time::Duration;

use crate::config::{ProcessSettings, RestartPolicy};

/// What a worker's restarts have been so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct History {
    /// Restarts after exiting by itself, counted against `max_restarts`.
    pub restarts: u32,
    /// Consecutive quick failures, for the restart delay.
    pub crash_streak: u32,
}

/// What follows an exit.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start again after the delay (its history updated).
    Restart { after: Duration, history: History },
    /// Done: the policy does not restart this exit.
    NoRestart,
    /// Done: the restarts ran out.
    LimitReached,
    /// Done: Ctrl-C at the terminal ended it (128 + SIGINT), which is no crash.
    Interrupted,
}

impl Decision {
    /// The decision in words, for the log line of the worker's transition.
    pub fn describe(&self, code: i32, ran: Duration, policy: RestartPolicy) -> String {
        match self {
            Decision::Interrupted => format!("worker ended by Ctrl-C (code {code}); not a crash"),
            Decision::NoRestart => format!(
                "not restarting (--restart {}); worker exited with code {code}",
                crate::config::choices::name(policy)
            ),
            Decision::LimitReached => "not restarting: restart limit reached".into(),
            Decision::Restart { after, history } => format!(
                "worker exited with code {code} after {}; restart {} in {}",
                crate::duration::format(ran),
                history.restarts,
                crate::duration::format(*after)
            ),
        }
    }
}

/// 128 + SIGINT: what a worker ended by Ctrl-C exits with.
pub const CTRL_C_CODE: i32 = 130;

/// Decides what follows an exit with `code` after running `ran`; `at_terminal` when the
/// worker holds the terminal (so Ctrl-C went to it). `r` is a random number in `[0, 1)` for
/// the jitter.
pub fn decide(
    p: &ProcessSettings,
    history: History,
    code: i32,
    ran: Duration,
    at_terminal: bool,
    r: f64,
) -> Decision {
    if at_terminal && code == CTRL_C_CODE {
        return Decision::Interrupted;
    }
    let restart = match p.restart {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => code != 0,
        RestartPolicy::Always => true,
    };
    if !restart {
        return Decision::NoRestart;
    }
    if p.max_restarts != 0 && history.restarts >= p.max_restarts {
        return Decision::LimitReached;
    }
    let (after, history) = backoff(p, history, ran, r);
    let history = History {
        restarts: history.restarts + 1,
        ..history
    };
    Decision::Restart { after, history }
}

/// The delay before a restart after running `ran`, and the history with it: the crash-loop
/// backoff, which starts over after a stable run. Restarts are counted by `decide` alone: a
/// wedged worker restarted by the supervisor backs off the same way, but spends none of the
/// `max_restarts` its own exits have.
pub fn backoff(
    p: &ProcessSettings,
    history: History,
    ran: Duration,
    r: f64,
) -> (Duration, History) {
    let streak = if ran >= p.restart_reset_after {
        1
    } else {
        history.crash_streak + 1
    };
    let history = History {
        crash_streak: streak,
        ..history
    };
    (p.restart_backoff().delay(streak, r), history)
}

/// Since when a worker process has not been seen polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// Since it started: it never polled.
    Start,
    /// Since it last polled.
    LastPoll,
    /// Since Temporal came back after an outage: it has not polled again.
    Return,
}

/// Whether a worker process that is not polling while Temporal is fine is wedged, and why: it
/// has been quiet for a whole `deadline`. A worker busy for a moment (all its slots taken) is
/// not killed for it.
pub fn wedged(
    findings: &[String],
    quiet: Quiet,
    quiet_for: Duration,
    deadline: Duration,
) -> Option<String> {
    if quiet_for < deadline {
        return None;
    }
    let findings = findings.join("; ");
    let deadline = crate::duration::format(deadline);
    Some(match quiet {
        Quiet::Start => format!("not polling within {deadline}: {findings}"),
        Quiet::LastPoll => format!("its pollers have been gone for {deadline}: {findings}"),
        Quiet::Return => {
            format!("not polling again within {deadline} of Temporal's return: {findings}")
        }
    })
}

/// A random moment within `window` (`r` in `[0, 1)`): when a worker starts again after
/// Temporal's return, so that a fleet of supervisors does not start its workers in step.
pub fn spread(window: Duration, r: f64) -> Duration {
    window.mul_f64(r.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(restart: RestartPolicy, max_restarts: u32) -> ProcessSettings {
        ProcessSettings {
            restart,
            max_restarts,
            restart_delay: Duration::from_secs(1),
            restart_max_delay: Duration::from_secs(8),
            backoff_factor: 2.0,
            jitter: 0.0,
            restart_reset_after: Duration::from_secs(60),
            stop_signal: nix::sys::signal::Signal::SIGTERM,
            stop_timeout: Duration::from_secs(25),
            stop_grace: Duration::from_secs(5),
            drain_poll_wait: Duration::from_secs(3),
        }
    }

    #[test]
    fn policies_decide_which_exits_restart() {
        let quick = Duration::from_secs(1);
        let h = History::default();
        use RestartPolicy::*;
        let cases = [
            (Never, 0, false),
            (Never, 3, false),
            (OnFailure, 0, false),
            (OnFailure, 3, true),
            (OnFailure, 137, true),
            (Always, 0, true),
            (Always, 3, true),
        ];
        for (policy, code, restarts) in cases {
            let d = decide(&settings(policy, 0), h, code, quick, false, 0.0);
            assert_eq!(
                matches!(d, Decision::Restart { .. }),
                restarts,
                "{policy:?} {code}: {d:?}"
            );
        }
    }

    #[test]
    fn a_crash_loop_backs_off_and_a_stable_run_starts_over() {
        let p = settings(RestartPolicy::OnFailure, 0);
        let mut h = History::default();
        let mut delays = Vec::new();
        for _ in 0..6 {
            match decide(&p, h, 1, Duration::from_secs(1), false, 0.0) {
                Decision::Restart { after, history } => {
                    delays.push(after.as_secs());
                    h = history;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, [1, 2, 4, 8, 8, 8]);
        match decide(&p, h, 1, Duration::from_secs(61), false, 0.0) {
            Decision::Restart { after, history } => {
                assert_eq!(after, Duration::from_secs(1));
                assert_eq!(history.restarts, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_worker_is_wedged_past_its_deadline_or_when_its_pollers_go() {
        let seen = ["no pollers at all on q in default at t:7233".to_string()];
        let minute = Duration::from_secs(60);
        let (start, polling, back) = (Quiet::Start, Quiet::LastPoll, Quiet::Return);
        assert_eq!(wedged(&seen, start, Duration::from_secs(59), minute), None);
        assert_eq!(
            wedged(&seen, start, minute, minute).unwrap(),
            "not polling within 1m: no pollers at all on q in default at t:7233"
        );
        // Gone after polling: only once they have been gone for the whole deadline.
        assert_eq!(wedged(&seen, polling, Duration::from_secs(1), minute), None);
        assert!(
            wedged(&seen, polling, minute, minute)
                .unwrap()
                .starts_with("its pollers have been gone for 1m")
        );
        assert!(
            wedged(&seen, back, minute, minute)
                .unwrap()
                .starts_with("not polling again within 1m of Temporal's return")
        );
    }

    #[test]
    fn starts_after_a_return_spread_over_the_window() {
        let window = Duration::from_secs(2);
        assert_eq!(spread(window, 0.0), Duration::ZERO);
        assert_eq!(spread(window, 0.5), Duration::from_secs(1));
        assert!(spread(window, 0.999_999) < window);
        assert_eq!(spread(Duration::ZERO, 0.7), Duration::ZERO);
    }

    #[test]
    fn a_wedged_restart_backs_off_but_spends_no_restart() {
        let p = settings(RestartPolicy::OnFailure, 1);
        let quick = Duration::from_secs(1);
        let (first, history) = backoff(&p, History::default(), quick, 0.0);
        let (second, history) = backoff(&p, history, quick, 0.0);
        assert!(second > first, "{first:?} then {second:?}");
        assert_eq!(history.restarts, 0);
        assert!(matches!(
            decide(&p, history, 1, quick, false, 0.0),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn restarts_run_out_and_ctrl_c_is_no_crash() {
        let p = settings(RestartPolicy::Always, 2);
        let spent = History {
            restarts: 2,
            crash_streak: 2,
        };
        let quick = Duration::from_secs(1);
        assert_eq!(
            decide(&p, spent, 1, quick, false, 0.0),
            Decision::LimitReached
        );
        assert_eq!(
            decide(&p, History::default(), CTRL_C_CODE, quick, true, 0.0),
            Decision::Interrupted
        );
        // Without the terminal, 130 is an exit like any other.
        assert!(matches!(
            decide(&p, History::default(), CTRL_C_CODE, quick, false, 0.0),
            Decision::Restart { .. }
        ));
    }
}
