//! Probe results into "lost" and "back": `failure_threshold` failures in a row make Temporal
//! lost, `success_threshold` successes in a row make it back, so a blip shorter than the
//! failure window changes nothing.

/// Turns probe results into "lost" and "back", with thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    failure_threshold: u32,
    success_threshold: u32,
    up: bool,
    failures: u32,
    successes: u32,
}

/// A change of Temporal's state as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Lost,
    Back,
}

impl Health {
    /// Starts as up: the supervisor only starts monitoring once Temporal was ready.
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Health {
        Health {
            failure_threshold,
            success_threshold,
            up: true,
            failures: 0,
            successes: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records one probe result; returns the change it causes, if any.
    pub fn record(&mut self, ok: bool) -> Option<Change> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            if !self.up && self.successes >= self.success_threshold {
                self.up = true;
                return Some(Change::Back);
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.up && self.failures >= self.failure_threshold {
                self.up = false;
                return Some(Change::Lost);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_lost_and_back() {
        let mut h = Health::new(3, 2);
        let seen: Vec<_> = [
            false, false, true, false, false, false, false, true, false, true, true, true,
        ]
        .iter()
        .map(|&ok| h.record(ok))
        .collect();
        use Change::*;
        assert_eq!(
            seen,
            [
                None,
                None,
                None,
                None,
                None,
                Some(Lost),
                None,
                None,
                None,
                None,
                Some(Back),
                None
            ]
        );
    }

    #[test]
    fn threshold_of_one_reacts_at_once() {
        let mut h = Health::new(1, 1);
        assert_eq!(h.record(false), Some(Change::Lost));
        assert!(!h.is_up());
        assert_eq!(h.record(true), Some(Change::Back));
        assert!(h.is_up());
    }
}
