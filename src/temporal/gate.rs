//! Waiting for readiness: attempts on the backoff schedule, woken early when the server gets
//! there.
//!
//! Between two attempts the gate sleeps the backoff delay, but keeps looking where looking is
//! cheap, and makes the next step as soon as the server is there:
//!
//! - the port refuses connections: it connects again every `port_watch_interval` (a refused
//!   TCP connect costs the server nothing) and attempts as soon as the port accepts;
//! - the server answers but is not ready (the frontend not SERVING yet, or the namespace not
//!   registered, as with Temporal's `auto-setup`, which registers it after the frontend
//!   serves): it checks again on the open connection every `recheck_interval`, and is ready
//!   the moment the check passes. These looks do not spend the schedule's attempts.
//!
//! So a worker starts within a fraction of a second of its server or namespace, while a
//! server in any other trouble (a timeout, a TLS or auth failure, its rate limiter refusing
//! us) gets attempts no faster than the schedule allows; the schedule starts over from
//! `initial_delay` when the server first becomes reachable. Jitter keeps a fleet of
//! supervisors released together from attempting in step.

use std::net::SocketAddr;
use std::time::Duration;

use temporalio_client::Connection;
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::{error, info};

use crate::config::WaitSettings;
use crate::duration;
use crate::logging::warn_or_error;
use crate::temporal::probe::{Bound, ProbeError, Prober, Ready, Stage, connect_any};

/// Waiting ended without readiness: attempts or time ran out (already logged, with the last
/// failure and how long it took).
#[derive(Debug)]
pub struct GaveUp;

/// Told of every attempt: how long it took to succeed, or why it failed.
pub type Attempted<'a> = &'a mut (dyn FnMut(Result<Duration, &ProbeError>) + Send);

/// Why waiting gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exhausted {
    /// `max_retries` attempts failed.
    Attempts,
    /// The overall timeout passed.
    Time,
}

/// Where the wait stands: the attempts made, and the failures since the schedule last
/// started over.
struct Schedule<'a> {
    wait: &'a WaitSettings,
    start: Instant,
    deadline: Option<Instant>,
    attempt: u32,
    streak: u32,
    was_unreachable: bool,
}

impl Schedule<'_> {
    /// The time the next attempt may take.
    fn budget(&self) -> Duration {
        match self.deadline {
            Some(d) => self
                .wait
                .attempt_timeout
                .min(d.saturating_duration_since(Instant::now())),
            None => self.wait.attempt_timeout,
        }
    }

    /// Whether the attempts or the time ran out, after a failed attempt.
    fn exhausted(&self) -> Option<Exhausted> {
        if self.wait.max_retries != 0 && self.attempt >= self.wait.max_retries {
            Some(Exhausted::Attempts)
        } else {
            self.out_of_time()
        }
    }

    fn out_of_time(&self) -> Option<Exhausted> {
        self.deadline
            .is_some_and(|d| Instant::now() >= d)
            .then_some(Exhausted::Time)
    }

    /// The delay after `failure`: the schedule starts over when the server first becomes
    /// reachable; never past the overall timeout.
    fn delay_after(&mut self, failure: &ProbeError) -> Duration {
        if self.was_unreachable && !failure.unreachable() {
            self.streak = 0;
        }
        self.was_unreachable = failure.unreachable();
        self.streak += 1;
        let delay = self.wait.backoff().next_delay(self.streak);
        match self.deadline {
            Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
            None => delay,
        }
    }
}

/// Makes attempts until one succeeds, the attempts run out, or the overall timeout passes.
/// `attempted` hears of each (the supervisor counts them for its endpoints and metrics).
pub async fn wait_until_ready(
    prober: &Prober,
    wait: &WaitSettings,
    attempted: Attempted<'_>,
) -> Result<Ready, GaveUp> {
    let start = Instant::now();
    let target = prober.settings().address();
    info!(
        address = %target,
        namespace = %prober.settings().namespace,
        max_attempts = wait.max_retries,
        timeout = %wait.timeout.map_or("none".into(), duration::format),
        "waiting for Temporal"
    );
    let mut schedule = Schedule {
        wait,
        start,
        deadline: wait.timeout.map(|t| start + t),
        attempt: 0,
        streak: 0,
        was_unreachable: false,
    };
    loop {
        schedule.attempt += 1;
        let result = prober.attempt_keeping(schedule.budget()).await;
        attempted(result.as_ref().map(|r| r.latency).map_err(|(e, _)| e));
        let (failure, open) = match result {
            Ok(r) => return Ok(ready(&target, r, &schedule)),
            Err(failed) => failed,
        };
        if let Some(why) = schedule.exhausted() {
            give_up(&target, &failure, why, &schedule);
            return Err(GaveUp);
        }
        let delay = schedule.delay_after(&failure);
        log_not_ready(schedule.attempt, wait.max_retries, &failure, delay);
        let wake = Instant::now() + delay;
        if let Some((connection, addr)) = open {
            if let Some(r) = watch_readiness(prober, connection, addr, wake, wait).await {
                return Ok(ready(&target, r, &schedule));
            }
        } else if !failure.refused() {
            sleep_until(wake).await;
        } else if watch_port(&failure.addrs, wake, wait.port_watch_interval).await {
            info!(address = %target, "port is accepting connections; attempting now");
        }
        // The overall timeout ran out while waiting: give up with what was last seen, rather
        // than make an attempt without time for it.
        if let Some(why) = schedule.out_of_time() {
            give_up(&target, &failure, why, &schedule);
            return Err(GaveUp);
        }
    }
}

fn ready(target: &str, ready: Ready, schedule: &Schedule) -> Ready {
    info!(
        address = %target,
        peer = %ready.addr,
        attempt = schedule.attempt,
        elapsed = %duration::format(schedule.start.elapsed()),
        latency = %duration::format(ready.latency),
        "Temporal is ready"
    );
    ready
}

fn give_up(target: &str, failure: &ProbeError, why: Exhausted, schedule: &Schedule) {
    let why = match why {
        Exhausted::Attempts => format!("{} attempts", schedule.attempt),
        Exhausted::Time => format!(
            "the {} timeout",
            duration::format(schedule.wait.timeout.unwrap_or_default())
        ),
    };
    error!(
        address = %target,
        stage = %failure.stage,
        reason = %failure.reason,
        "giving up on Temporal after {why} over {}",
        duration::format(schedule.start.elapsed()),
    );
}

/// A refused key needs a person: ERROR. Anything else may pass by itself: WARN.
fn log_not_ready(attempt: u32, max: u32, failure: &ProbeError, delay: Duration) {
    warn_or_error!(
        failure.stage == Stage::Auth,
        attempt,
        max_attempts = max,
        stage = %failure.stage,
        reason = %failure.reason,
        next_attempt_in = %duration::format(delay),
        "Temporal not ready"
    );
}

/// The server answered but is not ready: until `wake`, checks again on the open connection
/// every `recheck_interval`. Returns as soon as a check passes; `None` at `wake`, or when the
/// server stops answering "not ready" (then it sleeps out the delay).
async fn watch_readiness(
    prober: &Prober,
    connection: Connection,
    addr: SocketAddr,
    wake: Instant,
    wait: &WaitSettings,
) -> Option<Ready> {
    loop {
        let next = (Instant::now() + wait.recheck_interval).min(wake);
        sleep_until(next).await;
        if next >= wake {
            return None;
        }
        let budget = wait
            .attempt_timeout
            .min(wake.saturating_duration_since(Instant::now()));
        let bound = Bound::new(budget, "attempt timeout");
        match prober.check_ready(&connection, &bound).await {
            Ok(()) => {
                return Some(Ready {
                    addr,
                    latency: bound.elapsed(),
                    connection,
                });
            }
            Err(e) if e.answered_not_ready() => continue,
            Err(_) => {
                sleep_until(wake).await;
                return None;
            }
        }
    }
}

/// Sleeps until `wake`, connecting to `addrs` every `interval` meanwhile. Returns true as soon
/// as a connection is accepted, false at `wake` or when the port stops refusing in another way
/// (a timeout, say), in which case it just sleeps out the delay.
async fn watch_port(addrs: &[SocketAddr], wake: Instant, interval: Duration) -> bool {
    loop {
        let next = (Instant::now() + interval).min(wake);
        sleep_until(next).await;
        if next >= wake {
            return false;
        }
        match timeout_at(wake, connect_any(addrs)).await {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) if e.refused() => continue,
            _ => {
                sleep_until(wake).await;
                return false;
            }
        }
    }
}
