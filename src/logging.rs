//! Logs: one line per event on stderr, as text or JSON.

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, LogFormat, LogSettings};

/// Starts logging. `--log-level` (or its variable or file key) sets the level of this program
/// and leaves other crates at `warn`; without it, `RUST_LOG` is used as a full filter, and
/// without that the level is `info`.
pub fn init(settings: &LogSettings, rust_log: Option<&str>) -> Result<(), ConfigError> {
    let filter = match (settings.level, rust_log) {
        (Some(level), _) => {
            let others = if level < tracing::Level::WARN {
                level
            } else {
                tracing::Level::WARN
            };
            EnvFilter::new(format!(
                "{},temporal_supervisor={}",
                others.as_str().to_lowercase(),
                level.as_str().to_lowercase()
            ))
        }
        (None, Some(directives)) => EnvFilter::try_new(directives).map_err(|e| {
            ConfigError(format!(
                "environment variable RUST_LOG: invalid value '{directives}': {e}"
            ))
        })?,
        (None, None) => EnvFilter::new("warn,temporal_supervisor=info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match settings.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    Ok(())
}
