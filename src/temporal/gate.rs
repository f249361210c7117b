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

/// Makes attempts until one succeeds, the attempts run out, or the overall timeout passes.
/// `attempted` hears of each (the supervisor counts them for its endpoints and metrics).
pub async fn wait_until_ready(
    prober: &Prober,
    wait: &WaitSettings,
    attempted: Attempted<'_>,
) -> Result<Ready, GaveUp> {
    let start = Instant::now();
    let deadline = wait.timeout.map(|t| start + t);
    let target = prober.settings().address();
    let max = wait.max_retries;
    info!(
        address = %target,
        namespace = %prober.settings().namespace,
        max_attempts = max,
        timeout = %wait.timeout.map_or("none".into(), duration::format),
        "waiting for Temporal"
    );

    let mut attempt: u32 = 0;
    // Failures since the schedule last started over.
    let mut streak: u32 = 0;
    let mut was_unreachable = false;
    let ready = |ready: Ready, attempt: u32| {
        info!(
            address = %target,
            peer = %ready.addr,
            attempt,
            elapsed = %duration::format(start.elapsed()),
            latency = %duration::format(ready.latency),
            "Temporal is ready"
        );
        Ok(ready)
    };
    loop {
        attempt += 1;
        let budget = match deadline {
            Some(d) => wait
                .attempt_timeout
                .min(d.saturating_duration_since(Instant::now())),
            None => wait.attempt_timeout,
        };
        let result = prober.attempt_keeping(budget).await;
        attempted(result.as_ref().map(|r| r.latency).map_err(|(e, _)| e));
        let (failure, open) = match result {
            Ok(r) => return ready(r, attempt),
            Err(failed) => failed,
        };

        let out_of_attempts = max != 0 && attempt >= max;
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        if out_of_attempts || out_of_time {
            give_up(&target, &failure, out_of_attempts, attempt, wait, start);
            return Err(GaveUp);
        }

        if was_unreachable && !failure.unreachable() {
            streak = 0;
        }
        was_unreachable = failure.unreachable();
        streak += 1;
        let mut delay = wait.backoff.next_delay(streak);
        if let Some(d) = deadline {
            delay = delay.min(d.saturating_duration_since(Instant::now()));
        }
        log_not_ready(attempt, max, &failure, delay);

        let wake = Instant::now() + delay;
        if let Some((connection, addr)) = open {
            if let Some(r) = watch_readiness(prober, connection, addr, wake, wait).await {
                return ready(r, attempt);
            }
        } else if !failure.refused() {
            sleep_until(wake).await;
        } else if watch_port(&failure.addrs, wake, wait.port_watch_interval).await {
            info!(address = %target, "port is accepting connections; attempting now");
        }
        // The overall timeout ran out while waiting: give up with what was last seen, rather
        // than make an attempt without time for it.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            give_up(&target, &failure, false, attempt, wait, start);
            return Err(GaveUp);
        }
    }
}

fn give_up(
    target: &str,
    failure: &ProbeError,
    out_of_attempts: bool,
    attempt: u32,
    wait: &WaitSettings,
    start: Instant,
) {
    let why = if out_of_attempts {
        format!("{attempt} attempts")
    } else {
        format!(
            "the {} timeout",
            duration::format(wait.timeout.unwrap_or_default())
        )
    };
    error!(
        address = %target,
        stage = %failure.stage,
        reason = %failure.reason,
        "giving up on Temporal after {why} over {}",
        duration::format(start.elapsed()),
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
