//! Logs: one line per event on stderr, as text or JSON.
//!
//! Our logs must never take the worker down. Lines go through a bounded queue to one writer
//! thread ([`Sink`]): a stderr that blocks (a log collector that stopped reading) stalls only
//! that thread, and a full queue drops lines; a write that fails (closed pipe, full disk,
//! EAGAIN) drops the line. Both are counted in `temporal_supervisor_log_lines_dropped_total`
//! and nothing panics. (tracing-appender's non-blocking writer does the queueing too, but it
//! prints to stdout and stderr itself when it cannot flush, which panics on a closed pipe.)
//!
//! JSON lines have stable field names: `time` (RFC 3339, UTC), `level`, `message`, then the
//! event's own fields, among them `state`, `previous` and `event` on state transitions,
//! `attempt`, `max_attempts`, `stage` and `reason` on readiness attempts and probes, and
//! `child_pid` wherever a worker is concerned.

use std::fmt;
use std::io::Write;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

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
        .with_writer(Sink::start())
        .log_internal_errors(false)
        .with_target(false);
    match settings.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.event_format(JsonLines).init(),
    }
    Ok(())
}

/// Now, as our log lines show it (RFC 3339, UTC).
pub fn timestamp() -> String {
    let mut time = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut time));
    time
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
        let mut fields = Map::new();
        fields.insert("time".into(), Value::String(timestamp()));
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

/// Logs a failure at ERROR when it needs a person (`$needs_person`: a refused key), else at
/// WARN (it may pass by itself). Same fields and message either way.
macro_rules! warn_or_error {
    ($needs_person:expr, $($event:tt)+) => {
        if $needs_person {
            ::tracing::error!($($event)+)
        } else {
            ::tracing::warn!($($event)+)
        }
    };
}
pub(crate) use warn_or_error;

/// Log lines lost, by reason (`queue-full`, `write-failed`); registered with the metrics.
pub static LINES_DROPPED: LazyLock<Family<Vec<(&'static str, String)>, Counter>> =
    LazyLock::new(Family::default);

fn dropped(reason: &str) {
    LINES_DROPPED
        .get_or_create(&vec![("reason", reason.to_string())])
        .inc();
}

/// How many formatted lines may wait for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 1024;

enum Msg {
    Line(Vec<u8>),
    /// Answered once every line queued before it was written (or dropped).
    Flush(SyncSender<()>),
}

/// The queue to the writer thread, shared by every event.
static QUEUE: OnceLock<SyncSender<Msg>> = OnceLock::new();

/// A `MakeWriter` for tracing: each event is formatted into a [`Line`] and queued.
#[derive(Clone, Copy)]
struct Sink;

impl Sink {
    /// Starts the writer thread (once). Without a thread, lines are written in place,
    /// failures still dropped and counted.
    fn start() -> Sink {
        QUEUE.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE_LINES);
            let spawned = std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(move || {
                    for msg in rx {
                        match msg {
                            Msg::Line(bytes) => write_stderr(&bytes),
                            Msg::Flush(done) => {
                                let _ = done.try_send(());
                            }
                        }
                    }
                });
            if spawned.is_err() {
                dropped("write-failed");
            }
            tx
        });
        Sink
    }
}

fn write_stderr(bytes: &[u8]) {
    if std::io::stderr().lock().write_all(bytes).is_err() {
        dropped("write-failed");
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::with_capacity(256))
    }
}

/// One formatted event; queued when tracing drops it.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        match QUEUE.get() {
            Some(queue) => match queue.try_send(Msg::Line(bytes)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => dropped("queue-full"),
                Err(TrySendError::Disconnected(Msg::Line(bytes))) => write_stderr(&bytes),
                Err(TrySendError::Disconnected(_)) => {}
            },
            None => write_stderr(&bytes),
        }
    }
}

/// Waits up to `limit` for the queued lines to be written: before exiting or exec'ing.
pub fn flush(limit: Duration) {
    let Some(queue) = QUEUE.get() else {
        return;
    };
    let (done, wait) = mpsc::sync_channel(1);
    if queue.try_send(Msg::Flush(done)).is_ok() {
        let _ = wait.recv_timeout(limit);
    }
}

/// Writes our own text to stdout (`config`, `--help`). A reader that went away
/// (`temporal-supervisor config | head -1`) is not an error: the output simply ends.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes one line to stderr directly, for errors before or after logging runs. A failure is
/// counted and otherwise ignored.
pub fn print_stderr(line: &str) {
    write_stderr(format!("{line}\n").as_bytes());
}
