//! Delays, as pure functions: the exponential backoff with a cap and jitter that every retry
//! schedule uses (waiting for Temporal, restarting a crashing worker), and the jitter that
//! spreads periodic requests.
//!
//! The n-th delay (n counted from 1) is `initial_delay * backoff_factor^(n-1)`, capped at
//! `max_delay`, then shortened by a random fraction of at most `jitter`:
//!
//! ```text
//! delay(n) = min(max_delay, initial_delay * backoff_factor^(n-1)) * (1 - jitter * r),  r in [0, 1)
//! ```
//!
//! With the defaults (1 s, factor 2, cap 60 s) the un-jittered delays are 1, 2, 4, 8, 16, 32, 60,
//! 60, ... seconds, so attempts land at 0, 1, 3, 7, 15, 31, 63, ... s. Jitter only ever shortens a
//! delay, so the cap is a real upper bound, and a fleet of workers restarted together spreads its
//! attempts instead of hitting the frontend in lockstep.

use std::time::Duration;

/// Parameters of an exponential backoff schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial_delay: Duration,
    /// Upper bound for any single delay.
    pub max_delay: Duration,
    /// Growth per failure; 1.0 gives a fixed interval.
    pub factor: f64,
    /// Largest fraction of a delay that jitter may remove, in `[0, 1]`; 0 disables jitter.
    pub jitter: f64,
}

impl Backoff {
    /// The delay after the `failures`-th consecutive failure (1-based), given a random number
    /// `r` in `[0, 1)`. `failures == 0` means no failure yet and gives no delay.
    pub fn delay(&self, failures: u32, r: f64) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let cap = self.max_delay.as_secs_f64();
        let exponent = i32::try_from(failures - 1).unwrap_or(i32::MAX);
        let base = (self.initial_delay.as_secs_f64() * self.factor.powi(exponent)).min(cap);
        // `base` may be NaN or infinite only through absurd parameters that validation rejects;
        // fall back to the cap rather than panic.
        let base = Duration::try_from_secs_f64(base).unwrap_or(self.max_delay);
        shorten(base, self.jitter, r)
    }

    /// The delay after the `failures`-th failure with fresh randomness.
    pub fn next_delay(&self, failures: u32) -> Duration {
        self.delay(failures, fastrand::f64())
    }
}

/// `delay` shortened by a random fraction of at most `jitter` (`r` in `[0, 1)`), so that
/// supervisors started together do not act in step. Jitter only shortens: `delay` stays a
/// true upper bound.
pub fn shorten(delay: Duration, jitter: f64, r: f64) -> Duration {
    delay.mul_f64(1.0 - jitter.clamp(0.0, 1.0) * r.clamp(0.0, 1.0))
}

/// `interval` shortened by a random fraction of at most `jitter`, with fresh randomness.
pub fn jittered(interval: Duration, jitter: f64) -> Duration {
    shorten(interval, jitter, fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(initial_ms: u64, max_ms: u64, factor: f64, jitter: f64) -> Backoff {
        Backoff {
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_ms),
            factor,
            jitter,
        }
    }

    #[test]
    fn default_schedule_without_jitter() {
        let b = backoff(1000, 60_000, 2.0, 0.0);
        let secs: Vec<f64> = (1..=10).map(|n| b.delay(n, 0.5).as_secs_f64()).collect();
        assert_eq!(
            secs,
            [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0]
        );
    }

    #[test]
    fn no_failure_no_delay() {
        assert_eq!(
            backoff(1000, 60_000, 2.0, 0.5).delay(0, 0.9),
            Duration::ZERO
        );
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let b = backoff(1000, 60_000, 2.0, 0.25);
        for n in 1..=12 {
            let full = backoff(1000, 60_000, 2.0, 0.0).delay(n, 0.0);
            for r in [0.0, 0.3, 0.999_999] {
                let d = b.delay(n, r);
                assert!(d <= full, "n={n} r={r}: {d:?} > {full:?}");
                assert!(
                    d >= full.mul_f64(0.75),
                    "n={n} r={r}: {d:?} < 75% of {full:?}"
                );
            }
        }
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(4));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(3500));
    }

    #[test]
    fn fixed_interval_with_factor_one() {
        let b = backoff(250, 60_000, 1.0, 0.0);
        assert!((1..50).all(|n| b.delay(n, 0.0) == Duration::from_millis(250)));
    }

    #[test]
    fn huge_failure_counts_stay_at_the_cap() {
        let b = backoff(1000, 60_000, 2.0, 0.0);
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(60));
        assert_eq!(b.delay(5000, 0.0), Duration::from_secs(60));
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let interval = Duration::from_secs(60);
        for _ in 0..1000 {
            let d = jittered(interval, 0.2);
            assert!(d <= interval && d >= Duration::from_secs(48), "{d:?}");
        }
        assert_eq!(jittered(interval, 0.0), interval);
        assert_eq!(shorten(interval, 0.5, 0.5), Duration::from_secs(45));
    }

    #[test]
    fn random_delays_are_in_range() {
        let b = backoff(100, 1000, 3.0, 1.0);
        for n in 1..100 {
            assert!(b.next_delay(n) <= Duration::from_secs(1));
        }
    }
}
