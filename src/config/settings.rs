//! How to wait for Temporal, and how to log.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::config::keys::*;
use crate::config::layers::{Resolver, Source, invalid};
use crate::config::values::*;
use crate::config::{ConfigError, Env};
use crate::duration;

/// How `wait` and `exec` retry.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSettings {
    /// Most attempts; 0 means no limit.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// Give up after this long in all; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Bound on one whole attempt (DNS, TCP, TLS, RPCs).
    pub attempt_timeout: Duration,
    /// While the port refuses connections, how often to look again between attempts.
    pub port_watch_interval: Duration,
    /// While the server answers but is not ready (not SERVING, namespace missing), how often
    /// to look again on the open connection between attempts.
    pub recheck_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The level for this program; `None` leaves the choice to `RUST_LOG` (default `info`).
    pub level: Option<tracing::Level>,
}

impl WaitSettings {
    /// The same, with neither an attempt limit nor a timeout: for waiting again after
    /// Temporal was lost, which only a signal ends.
    pub fn without_limits(&self) -> WaitSettings {
        WaitSettings {
            max_retries: 0,
            timeout: None,
            ..self.clone()
        }
    }
}

// --- waiting ----------------------------------------------------------------------------------

pub fn resolve_wait(r: &mut Resolver<'_>) -> Result<WaitSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let max_retries = r.get(&MAX_RETRIES, 10, parse_count, |n| n.to_string())?;
    let initial_delay = r.get(
        &INITIAL_DELAY,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let max_delay = r.get(
        &MAX_DELAY,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let factor = r.get(&BACKOFF_FACTOR, 2.0, parse_factor, |f| format!("{f}"))?;
    let jitter = r.get(&JITTER, 0.2, parse_fraction, |f| format!("{f}"))?;
    let timeout = r.get(
        &TIMEOUT,
        None,
        |t| duration::parse(t).map(|d| (!d.is_zero()).then_some(d)),
        |t| t.map_or("none".into(), duration::format),
    )?;
    let attempt_timeout = r.get(
        &ATTEMPT_TIMEOUT,
        Duration::from_secs(5),
        parse_positive_duration,
        show_duration,
    )?;
    let port_watch_interval = r.get(
        &PORT_WATCH_INTERVAL,
        Duration::from_millis(100),
        parse_positive_duration,
        show_duration,
    )?;
    let recheck_interval = r.get(
        &RECHECK_INTERVAL,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    if max_delay < initial_delay {
        return Err(ConfigError(format!(
            "max_delay {} is shorter than initial_delay {}",
            duration::format(max_delay),
            duration::format(initial_delay)
        )));
    }
    Ok(WaitSettings {
        max_retries,
        backoff: Backoff {
            initial_delay,
            max_delay,
            factor,
            jitter,
        },
        timeout,
        attempt_timeout,
        port_watch_interval,
        recheck_interval,
    })
}

// --- logging ----------------------------------------------------------------------------------

pub fn resolve_log(r: &mut Resolver<'_>, env: &Env) -> Result<LogSettings, ConfigError> {
    let format = r.get(
        &LOG_FORMAT,
        LogFormat::Text,
        |t| match t.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        },
        |f| format!("{f:?}").to_lowercase(),
    )?;
    let rust_log = env.get("RUST_LOG").filter(|v| !v.is_empty());
    let level = match r.raw(&LOG_LEVEL)? {
        Some((text, source)) => {
            let level = text.trim().parse::<tracing::Level>().map_err(|_| {
                invalid(&source, &text, "expected error, warn, info, debug or trace")
            })?;
            r.record(LOG_LEVEL.name, level.to_string().to_lowercase(), source);
            Some(level)
        }
        None => {
            match rust_log {
                Some(filter) => r.record(
                    LOG_LEVEL.name,
                    filter.clone(),
                    Source::Env("RUST_LOG".into()),
                ),
                None => r.record(LOG_LEVEL.name, "info".into(), Source::Default),
            }
            None
        }
    };
    Ok(LogSettings { format, level })
}
