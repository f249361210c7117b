//! When and how a worker's pollers are looked at: a background task per worker process that
//! checks them as often as the proof needs, on the monitor's connection while Temporal is well.

use std::time::{Duration, SystemTime};

use temporalio_client::Connection;
use tokio::sync::{mpsc, watch};

use crate::config::MonitorSettings;
use crate::task::AbortOnDrop;
use crate::temporal::pollers::{PollerCheck, PollerReport};
use crate::temporal::probe::{Bound, ProbeError};

/// While a worker is not seen polling, look at its pollers this often at first, so that
/// readiness follows its first poll (or its first after an outage) closely...
const QUICK_CHECK: Duration = Duration::from_secs(1);
/// ...for this many checks in a row, then less and less often, up to the probe interval.
const QUICK_CHECKS: u32 = 30;

/// When to look at a worker's pollers again after `report`, the `quiet`-th check in a row
/// that did not find it polling (0 when it does). While it polls, a second after the proof
/// runs out (its newest poller ages out), or after `interval` if that comes first: a worker
/// that stops polling is seen within a second of its last poll's expiry, at one request per
/// queue at most every `interval`. While it does not poll (not yet, no longer, or the check
/// failed), every second for [`QUICK_CHECKS`] checks, then doubling up to `interval`, so that
/// a worker that never comes costs the server little.
pub fn next_check(
    report: &Result<PollerReport, ProbeError>,
    quiet: u32,
    interval: Duration,
) -> Duration {
    if let Ok(PollerReport {
        polling: true,
        fresh_for: Some(fresh),
        ..
    }) = report
    {
        return (*fresh + QUICK_CHECK).min(interval.max(QUICK_CHECK));
    }
    let doublings = quiet.saturating_sub(QUICK_CHECKS).min(16);
    (QUICK_CHECK * 2u32.pow(doublings)).min(interval.max(QUICK_CHECK))
}

/// A poller check's report about the worker process at `index` with `pid`.
pub type PollerEvent = (usize, i32, Result<PollerReport, ProbeError>);

/// Checks one worker process's pollers in the background, on the monitor's connection while
/// Temporal is well, as often as [`next_check`] says (and at once after
/// [`PollerWatch::count_polls_after`]). Each report goes to `reports` with `index` and `pid`.
/// Stops when dropped.
pub struct PollerWatch {
    _task: AbortOnDrop<()>,
    polled_after: watch::Sender<Option<SystemTime>>,
}

impl PollerWatch {
    pub fn start(
        check: PollerCheck,
        pid: i32,
        mut well: watch::Receiver<Option<Connection>>,
        settings: MonitorSettings,
        index: usize,
        reports: mpsc::Sender<PollerEvent>,
    ) -> PollerWatch {
        let (polled_after, mut after) = watch::channel(None);
        let task = AbortOnDrop::spawn(async move {
            let mut quiet = 0;
            loop {
                let connection = match well.wait_for(Option::is_some).await {
                    Ok(connection) => connection.clone().expect("waited for Some"),
                    Err(_) => return,
                };
                let bound = Bound::new(settings.probe_timeout, "probe timeout");
                let since = *after.borrow_and_update();
                let report = check.check(&connection, &bound, since).await;
                quiet = match &report {
                    Ok(r) if r.polling => 0,
                    _ => quiet + 1,
                };
                let pause = next_check(&report, quiet, settings.probe_interval);
                if reports.send((index, pid, report)).await.is_err() {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    // Temporal came back: the worker must poll again; look at once.
                    Ok(()) = after.changed() => quiet = 0,
                }
            }
        });
        PollerWatch {
            _task: task,
            polled_after,
        }
    }

    /// From now on only polls after `since` count (the moment Temporal was lost), and the
    /// checks follow every second until the worker polls again.
    pub fn count_polls_after(&self, since: SystemTime) {
        self.polled_after.send_replace(Some(since));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::probe::Stage;

    #[test]
    fn checks_come_when_the_proof_runs_out_or_back_off_while_there_is_none() {
        let minute = Duration::from_secs(60);
        let polling = Ok(PollerReport {
            polling: true,
            seen: 1,
            findings: Vec::new(),
            fresh_for: Some(Duration::from_secs(85)),
        });
        assert_eq!(next_check(&polling, 0, minute), minute);
        assert_eq!(
            next_check(&polling, 0, Duration::from_secs(120)),
            Duration::from_secs(86)
        );
        let quiet = Ok(PollerReport {
            polling: false,
            seen: 0,
            findings: vec!["no pollers at all".into()],
            fresh_for: None,
        });
        let pauses: Vec<u64> = [1, 30, 31, 32, 33, 36, 37, 1000]
            .iter()
            .map(|&n| next_check(&quiet, n, minute).as_secs())
            .collect();
        assert_eq!(pauses, [1, 1, 2, 4, 8, 60, 60, 60]);
        let failed = Err(ProbeError::other(Stage::Pollers, "refused"));
        assert_eq!(next_check(&failed, 40, minute), minute);
    }
}
