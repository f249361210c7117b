//! Stopping one worker process: with an endpoint, a drain first ([`Draining`]: no new work,
//! the work it holds finished, until the drain's deadline); then the stop signal to its whole
//! process group, waiting until every process of the group is gone, SIGKILL to the group when
//! the stop timeout runs out, and, should something survive even that (a process stuck in
//! uninterruptible sleep), carrying on after a last grace rather than waiting forever.

use std::fmt;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::ProcessSettings;
use crate::duration;
use crate::endpoint::{Drain, DrainEnd, DrainReport, Endpoint};
use crate::process::child::Child;
use crate::process::system::Processes;
use crate::supervise::launch::DrainReports;

/// How often to look whether the rest of a stopping worker's process group is gone.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// How long to wait for a SIGKILLed group to vanish before carrying on regardless.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Why a worker process is stopped, which decides what follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// The supervisor is ending (a signal, or another worker failed): done afterwards.
    Shutdown(&'static str),
    /// Temporal was lost: wait for it, then start again.
    TemporalLost,
    /// It does not poll its task queues while Temporal is fine: start again.
    NotPolling,
    /// It speaks TLS to its plaintext endpoint: start again at once, connected directly.
    SpeaksTls,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Shutdown(why) => f.write_str(why),
            StopReason::TemporalLost => f.write_str("Temporal lost"),
            StopReason::NotPolling => f.write_str("worker not polling"),
            StopReason::SpeaksTls => f.write_str("worker speaks TLS to its endpoint"),
        }
    }
}

impl StopReason {
    /// Whether the worker's work is drained first: not for one that does not poll (it holds
    /// nothing Temporal would wait for).
    pub fn drains(self) -> bool {
        !matches!(self, StopReason::NotPolling | StopReason::SpeaksTls)
    }
}

/// A drain in progress: the stop signal waits for its report.
pub struct Draining {
    pub child: Child,
    pub why: StopReason,
    pub drain: Drain,
    /// When the stop began: SIGKILL comes `stop_timeout` after it.
    pub began: Instant,
}

impl Draining {
    /// Starts the drain of `child` behind `endpoint`, due to end `stop_grace` before the stop
    /// timeout; returns it and the line that says so.
    pub fn begin(
        child: Child,
        why: StopReason,
        p: &ProcessSettings,
        endpoint: &Endpoint,
        (index, done): (usize, DrainReports),
    ) -> (Draining, String) {
        let began = Instant::now();
        let deadline = began + p.stop_timeout.saturating_sub(p.stop_grace);
        let drain = endpoint.drain((deadline, p.drain_poll_wait), index, done);
        let said = format!(
            "{why}: draining the worker (pid {}) through its endpoint: no new work, the work \
             it holds finished within {}, then {}",
            child.pid,
            duration::format(deadline - began),
            p.stop_signal.as_str()
        );
        let draining = Draining {
            child,
            why,
            drain,
            began,
        };
        (draining, said)
    }

    /// A second request while draining: a shutdown skips the rest of the drain.
    pub fn again(&mut self, why: StopReason, label: &str) {
        if let StopReason::Shutdown(_) = why {
            self.why = why;
            self.drain.skip();
            info!(worker = %label, "{why} while draining: the rest of the drain is skipped");
        }
    }

    /// The drain of the worker `label` ended with `report`: what was left is said, then the
    /// stop signal goes; returns the stop and the line that says so.
    pub fn ended(
        self,
        report: &DrainReport,
        label: &str,
        p: &ProcessSettings,
        os: &dyn Processes,
    ) -> (Stop, String) {
        say_drained(label, report);
        // Nothing abandoned: the worker ending by the stop signal is an orderly stop.
        let orderly = report.left == 0;
        Stop::after_drain(self.child, self.why, p, os, self.began, orderly)
    }
}

/// What a drain did, in one line.
fn say_drained(label: &str, report: &DrainReport) {
    let t = report.tally;
    let took = duration::format(report.took);
    let counts = format!(
        "{} finished ({} held at the start, {} arrived since), {} left",
        t.finished, t.at_start, t.arrived, report.left
    );
    let end = match report.end {
        DrainEnd::Completed => "completed",
        DrainEnd::Deadline => "ended by its deadline",
        DrainEnd::Skipped => "cut short by a second stop signal",
    };
    if report.left > 0 {
        warn!(worker = %label, "drain {end} after {took}: {counts}: {} abandoned", report.left_words);
    } else if report.polls_open > 0 {
        info!(
            worker = %label,
            "drain {end} after {took}: {counts}; {} polls still open end with the worker \
             (the namespace cannot complete them: frontend.enableCancelWorkerPollsOnShutdown)",
            report.polls_open
        );
    } else {
        info!(worker = %label, "drain {end} after {took}: {counts}");
    }
}

/// A stop in progress.
#[derive(Debug)]
pub struct Stop {
    pub child: Child,
    pub why: StopReason,
    /// After a drain that left nothing: the worker ending by the stop signal is an orderly
    /// stop (code 0).
    orderly: bool,
    /// The stop signal sent.
    signal: Signal,
    kill_at: Instant,
    killed: bool,
    /// The worker's exit code once it exited (other members of its group may linger).
    exit: Option<i32>,
    /// When to look at the group next.
    look_at: Instant,
}

/// Where a stop stands.
#[derive(Debug, PartialEq)]
pub enum Progress {
    Going,
    /// Every process of the group is gone; the worker's code.
    Done(i32),
    /// Processes of the group survived SIGKILL; carrying on with this code.
    Stuck(i32),
}

impl Stop {
    /// Sends the stop signal to the group; returns the stop and the line that says so.
    pub fn begin(
        child: Child,
        why: StopReason,
        p: &ProcessSettings,
        os: &dyn Processes,
    ) -> (Stop, String) {
        Stop::after_drain(child, why, p, os, Instant::now(), false)
    }

    /// As [`Stop::begin`] for a stop that `began` earlier (with a drain): SIGKILL comes at the
    /// end of its stop timeout; `orderly` when the drain left nothing.
    pub fn after_drain(
        child: Child,
        why: StopReason,
        p: &ProcessSettings,
        os: &dyn Processes,
        began: Instant,
        orderly: bool,
    ) -> (Stop, String) {
        os.signal_group(child.pid, p.stop_signal);
        // A stopped worker (SIGSTOP, a debugger, frozen through an outage) cannot act on the
        // stop signal until it continues; systemd sends SIGCONT after the stop signal too.
        if p.stop_signal != Signal::SIGCONT {
            os.signal_group(child.pid, Signal::SIGCONT);
        }
        let kill_at = (began + p.stop_timeout).max(Instant::now());
        let said = format!(
            "{why}: sent {} to the worker's process group (pid {}), SIGKILL in {}",
            p.stop_signal.as_str(),
            child.pid,
            duration::format(kill_at - Instant::now())
        );
        let stop = Stop {
            child,
            why,
            orderly,
            signal: p.stop_signal,
            kill_at,
            killed: false,
            exit: None,
            look_at: kill_at,
        };
        (stop, said)
    }

    /// A second request to stop the worker `label`: a shutdown replaces what follows, the
    /// grace period stays.
    pub fn again(&mut self, why: StopReason, label: &str) {
        if let StopReason::Shutdown(_) = why {
            self.why = why;
            let left = self.kill_at.saturating_duration_since(Instant::now());
            info!(
                worker = %label,
                "{why} while stopping; the grace period continues (SIGKILL in {}), then exit",
                duration::format(left)
            );
        }
    }

    /// The worker exited during its drain: the rest of its group gets the stop signal, the
    /// drain is over.
    pub fn after_exit_in_drain(
        d: Draining,
        code: i32,
        p: &ProcessSettings,
        os: &dyn Processes,
    ) -> Stop {
        let (mut stop, _) = Stop::after_drain(d.child, d.why, p, os, d.began, false);
        stop.exited(code);
        stop
    }

    pub fn exited(&mut self, code: i32) {
        self.exit = Some(code);
        self.look_at = Instant::now();
    }

    /// The code the worker's stop counts with: 0 for an orderly stop (drained, then ended by
    /// the stop signal), else its own.
    fn counted(&self, code: i32) -> i32 {
        if self.orderly && !self.killed && code == 128 + self.signal as i32 {
            0
        } else {
            code
        }
    }

    /// When to look again.
    pub fn timer(&self) -> Instant {
        self.look_at
    }

    /// Looks at the group (after reaping: zombies still count as alive).
    pub fn progress(&mut self, label: &str, os: &dyn Processes) -> Progress {
        let now = Instant::now();
        let pid = self.child.pid.as_raw();
        if let Some(code) = self.exit
            && !os.group_alive(self.child.pid)
        {
            return Progress::Done(self.counted(code));
        }
        if !self.killed && now >= self.kill_at {
            warn!(worker = %label, child_pid = pid, "stop timeout over; sent SIGKILL to the worker's process group");
            os.signal_group(self.child.pid, Signal::SIGKILL);
            self.killed = true;
            self.kill_at = now + KILL_GRACE;
        } else if self.killed && now >= self.kill_at {
            error!(worker = %label, child_pid = pid, "processes of the worker's group survive SIGKILL; carrying on");
            return Progress::Stuck(self.exit.unwrap_or(128 + Signal::SIGKILL as i32));
        }
        // Once the worker exited or was killed, the rest of its group is looked at often.
        self.look_at = if self.exit.is_some() || self.killed {
            (now + GROUP_POLL).min(self.kill_at)
        } else {
            self.kill_at
        };
        Progress::Going
    }
}
