//! The monitor's view of Temporal as a small state machine: well, suspect (the health watch
//! broke or a probe failed), or lost. `failure_threshold` failures in a row make Temporal
//! lost, `success_threshold` successes in a row make it back, so a blip shorter than the
//! failure window does not count as a loss. Suspicion is a change too: no worker is started
//! again while Temporal is suspect.
//!
//! ```text
//!   Well ── watch broke / probe failed ──▶ Suspect ── failure_threshold failures ──▶ Lost
//!    ▲                                       │                                        │
//!    └────────── a probe succeeded ──────────┘◀──── success_threshold successes ──────┘
//! ```

/// Where Temporal stands, as the monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// All is well: the watch is open (or the last probe succeeded).
    Well,
    /// The watch broke or a probe failed; probes follow every recheck interval.
    Suspect,
    /// `failure_threshold` probes failed in a row.
    Lost,
}

/// A change of Temporal's state as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Well no more: the watch broke or a probe failed (below the failure threshold).
    Suspect,
    Lost,
    Back,
}

/// Turns probe results into the phase, with thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    failure_threshold: u32,
    success_threshold: u32,
    phase: Phase,
    failures: u32,
    successes: u32,
}

impl Health {
    /// Starts well: the supervisor only starts monitoring once Temporal was ready.
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Health {
        Health {
            failure_threshold,
            success_threshold,
            phase: Phase::Well,
            failures: 0,
            successes: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Something other than a probe (the watch ending) casts doubt: well becomes suspect.
    pub fn suspect(&mut self) -> Option<Change> {
        if self.phase != Phase::Well {
            return None;
        }
        self.phase = Phase::Suspect;
        Some(Change::Suspect)
    }

    /// Records one probe result; returns the change it causes, if any.
    pub fn record(&mut self, ok: bool) -> Option<Change> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            match self.phase {
                Phase::Lost if self.successes < self.success_threshold => None,
                Phase::Lost => {
                    self.phase = Phase::Well;
                    Some(Change::Back)
                }
                _ => {
                    self.phase = Phase::Well;
                    None
                }
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            match self.phase {
                Phase::Lost => None,
                _ if self.failures >= self.failure_threshold => {
                    self.phase = Phase::Lost;
                    Some(Change::Lost)
                }
                Phase::Suspect => None,
                Phase::Well => {
                    self.phase = Phase::Suspect;
                    Some(Change::Suspect)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_lost_and_back() {
        let mut h = Health::new(3, 2);
        use Phase::*;
        let seen: Vec<_> = [
            false, false, true, false, false, false, false, true, false, true, true, true,
        ]
        .iter()
        .map(|&ok| (h.record(ok), h.phase()))
        .collect();
        assert_eq!(
            seen,
            [
                (Some(Change::Suspect), Suspect),
                (None, Suspect),
                (None, Well),
                (Some(Change::Suspect), Suspect),
                (None, Suspect),
                (Some(Change::Lost), Lost),
                (None, Lost),
                (None, Lost),
                (None, Lost),
                (None, Lost),
                (Some(Change::Back), Well),
                (None, Well)
            ]
        );
    }

    #[test]
    fn threshold_of_one_reacts_at_once() {
        let mut h = Health::new(1, 1);
        assert_eq!(h.record(false), Some(Change::Lost));
        assert_eq!(h.phase(), Phase::Lost);
        assert_eq!(h.record(true), Some(Change::Back));
        assert_eq!(h.phase(), Phase::Well);
    }

    #[test]
    fn a_broken_watch_makes_well_suspect_but_not_lost() {
        let mut h = Health::new(3, 1);
        assert_eq!(h.suspect(), Some(Change::Suspect));
        assert_eq!(h.phase(), Phase::Suspect);
        assert_eq!(h.suspect(), None, "suspect once");
        assert_eq!(h.record(true), None);
        assert_eq!(h.phase(), Phase::Well);
        for _ in 0..3 {
            h.record(false);
        }
        assert_eq!(h.suspect(), None);
        assert_eq!(h.phase(), Phase::Lost, "suspicion never undoes a loss");
    }
}
