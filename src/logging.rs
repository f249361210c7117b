//! Logs: one line per event on stderr, as text or JSON.
//!
//! JSON lines have stable field names: `time` (RFC 3339, UTC), `level`, `message`, then the
//! event's own fields, among them `state`, `previous` and `event` on state transitions,
//! `attempt`, `max_attempts`, `stage` and `reason` on readiness attempts and probes, and
//! `child_pid` wherever a worker is concerned.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
        LogFormat::Json => builder.event_format(JsonLines).init(),
    }
    Ok(())
}

/// One JSON object per event, with the field names documented above.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = Map::new();
        fields.insert("time".into(), Value::String(time));
        fields.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        event.record(&mut JsonFields(&mut fields));
        writeln!(writer, "{}", Value::Object(fields))
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}
