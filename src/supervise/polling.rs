//! One worker process's pollers: checked in the background on the monitor's connection
//! ([`PollerWatch`]), judged here. A process that has not been seen polling for a whole
//! `poller_deadline` (since it started, since it last polled, or since Temporal came back) is
//! wedged. After Temporal's return only polls since the loss count: a worker must poll again.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use crate::endpoint::proof::Proof;
use crate::supervise::policy::{self, Quiet};
use crate::temporal::pollers::PollerReport;
use crate::temporal::probe::ProbeError;

pub struct Polling {
    /// The background check; `None` without task queues, or once the process is gone.
    watch: Option<Proof>,
    quiet: Quiet,
    /// When the process started, was last seen polling, or Temporal came back.
    since: Instant,
    /// The last reason its pollers could not be checked, said once.
    error: Option<String>,
}

/// What a report means for the process.
pub enum Verdict {
    Nothing,
    /// Polls (or not yet judged): this report for the status.
    Report(PollerReport),
    /// Wedged, and why (the report for the status too).
    Wedged(PollerReport, String),
}

impl Polling {
    pub fn new(watch: Option<Proof>) -> Polling {
        Polling {
            watch,
            quiet: Quiet::Start,
            since: Instant::now(),
            error: None,
        }
    }

    /// Whether its pollers are checked (it has task queues and runs).
    pub fn checked(&self) -> bool {
        self.watch.is_some()
    }

    /// The process is gone: no more checks.
    pub fn stop(&mut self) {
        self.watch = None;
    }

    /// Temporal is back after an outage that began at `lost_at`: the worker gets a whole
    /// deadline to poll again, and only polls since the loss count.
    pub fn temporal_back(&mut self, lost_at: SystemTime) {
        self.since = Instant::now();
        if let Some(watch) = &self.watch {
            watch.count_polls_after(lost_at);
            self.quiet = Quiet::Return;
        }
    }

    /// Judges one report about the process `label` (`pid`).
    pub fn judge(
        &mut self,
        label: &str,
        pid: i32,
        report: Result<PollerReport, ProbeError>,
        deadline: Duration,
    ) -> Verdict {
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                if self.error.as_ref() != Some(&e.reason) {
                    warn!(worker = %label, child_pid = pid, reason = %e.reason, "cannot check the worker's pollers");
                    self.error = Some(e.reason);
                }
                return Verdict::Nothing;
            }
        };
        self.error = None;
        if report.polling {
            match self.quiet {
                Quiet::Start => {
                    info!(worker = %label, child_pid = pid, pollers = report.seen, "worker is polling")
                }
                Quiet::Return => {
                    info!(worker = %label, child_pid = pid, pollers = report.seen, "worker is polling again")
                }
                Quiet::LastPoll => {}
            }
            debug!(worker = %label, child_pid = pid, pollers = report.seen, "worker polls");
            self.quiet = Quiet::LastPoll;
            self.since = Instant::now();
            return Verdict::Report(report);
        }
        match policy::wedged(&report.findings, self.quiet, self.since.elapsed(), deadline) {
            Some(why) => {
                warn!(worker = %label, child_pid = pid, reason = %why, "worker not polling");
                Verdict::Wedged(report, why)
            }
            None => Verdict::Report(report),
        }
    }
}
