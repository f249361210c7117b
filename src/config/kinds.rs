//! The kinds of setting values: one parser for each, whatever the source (a flag, a variable
//! and the file all give text), and how a value is shown in the `config` report. A parser's
//! error says what it expected; the resolver adds the value and where it came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use nix::sys::signal::Signal;

use crate::config::address::{Target, parse_address, shown_address};
use crate::duration;

/// What a kind tells the table about its settings.
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    /// What it takes, in words (the values of a choice), unless the setting says.
    pub takes: fn() -> String,
    /// Whether a value may start with `-` on the command line (numbers and durations).
    pub hyphen_values: bool,
    /// Whether it is one of a few named values (shown in the help).
    pub choice: bool,
}

/// Why a value was refused: `None` for "expected" and what the setting takes (its own
/// words, else its kind's, as the resolver words it), else the kind's own reason.
pub type Refusal = Option<String>;

/// A kind of value.
pub trait Kind {
    type Value;
    const TRAITS: Traits;
    fn parse(text: &str) -> Result<Self::Value, Refusal>;
    fn show(value: &Self::Value) -> String;
    /// The text as an error may show it (see [`crate::config::address`]).
    fn redact(text: &str) -> String {
        text.to_string()
    }
}

/// Declares the kinds, one entry each: its doc, its value type, its words, whether a value may
/// start with `-` on the command line, its parser, how it shows a value and, if it must, how an
/// error shows its text.
macro_rules! kinds {
    ($($(#[$doc:meta])* $kind:ident: $value:ty, $takes:literal, hyphen: $hyphen:literal,
        parse: $parse:expr, show: $show:expr $(, redact: $redact:expr)?;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $kind;

        impl Kind for $kind {
            type Value = $value;
            const TRAITS: Traits = Traits {
                takes: || $takes.into(),
                hyphen_values: $hyphen,
                choice: false,
            };
            fn parse(text: &str) -> Result<$value, Refusal> {
                ($parse)(text)
            }
            fn show(value: &$value) -> String {
                ($show)(value)
            }
            $(fn redact(text: &str) -> String {
                ($redact)(text)
            })?
        }
    )*};
}

kinds! {
    /// A whole number from 0 up.
    Count: u32, "a whole number from 0 up", hyphen: true,
        parse: number::<u32>, show: ToString::to_string;
    /// A whole number from 1 up.
    AtLeastOne: u32, "a whole number from 1 up", hyphen: true,
        parse: |t| number(t).and_then(|n| if n == 0 { Err(None) } else { Ok(n) }),
        show: ToString::to_string;
    /// A duration, zero allowed.
    Dur: Duration, "a duration such as 500ms, 2s, 1m30s or 1.5", hyphen: true,
        parse: |t| Ok(duration::parse(t)?), show: |d: &Duration| duration::format(*d);
    /// A duration longer than zero.
    Positive: Duration, "a duration longer than zero, such as 500ms, 2s or 1m30s", hyphen: true,
        parse: positive, show: |d: &Duration| duration::format(*d);
    /// A limit: a duration, where 0 means none.
    Limit: Option<Duration>, "a duration such as 10m, or 0 for no limit", hyphen: true,
        parse: |t| Ok(duration::parse(t).map(|d| (!d.is_zero()).then_some(d))?),
        show: |d: &Option<Duration>| d.map_or("none".into(), duration::format);
    /// A growth factor from 1 to 100.
    Factor: f64, "a number from 1 to 100", hyphen: true,
        parse: |t| number_in(t, 1.0..=100.0), show: ToString::to_string;
    /// A fraction from 0 to 1.
    Fraction: f64, "a number from 0 to 1", hyphen: true,
        parse: |t| number_in(t, 0.0..=1.0), show: ToString::to_string;
    /// true or false.
    Flag: bool, "true or false", hyphen: false,
        parse: flag, show: ToString::to_string;
    /// A signal that asks a process to stop (not SIGKILL or SIGSTOP).
    StopSignal: Signal,
        "a signal name or number, such as SIGTERM, SIGINT or 15 (not SIGKILL or SIGSTOP)",
        hyphen: false, parse: stop_signal, show: |s: &Signal| s.as_str().to_string();
    /// An address to listen on.
    Listen: SocketAddr, "an IP address and port such as 0.0.0.0:8080 or :8080", hyphen: false,
        parse: |t| socket(t, "0.0.0.0"), show: ToString::to_string;
    /// A loopback address to listen on (`:PORT` is 127.0.0.1).
    Loopback: SocketAddr, "a loopback address and port such as 127.0.0.1:7233 or :7233",
        hyphen: false, parse: loopback, show: ToString::to_string;
    /// Non-empty text, trimmed.
    Text: String, "a value", hyphen: false,
        parse: |t: &str| match t.trim() { "" => Err(None), t => Ok(t.to_string()) },
        show: Clone::clone;
    /// A file's name.
    File: PathBuf, "a file name", hyphen: false,
        parse: |t: &str| match t { "" => Err(None), t => Ok(PathBuf::from(t)) },
        show: |path: &PathBuf| path.display().to_string();
    /// Temporal's address (see [`crate::config::address`]).
    Address: Target, "host:port, [v6]:port or an http(s):// URL", hyphen: false,
        parse: |t| Ok(parse_address(t)?), show: |t: &Target| t.text.clone(), redact: shown_address;
    /// Task queue names, comma-separated.
    Queues: Vec<String>, "task queue names separated by commas", hyphen: false,
        parse: queues, show: |names: &Vec<String>| names.join(",");
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, Refusal> {
    text.trim().parse().map_err(|_| None)
}

/// A number within `range` (never NaN or infinite).
fn number_in(text: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, Refusal> {
    number(text).and_then(|f| range.contains(&f).then_some(f).ok_or(None))
}

fn positive(text: &str) -> Result<Duration, Refusal> {
    match duration::parse(text)? {
        d if d.is_zero() => Err(Some("must be longer than zero".into())),
        d => Ok(d),
    }
}

fn flag(text: &str) -> Result<bool, Refusal> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(None),
    }
}

/// `SIGTERM`, `TERM` or `15`, not SIGKILL or SIGSTOP.
fn stop_signal(text: &str) -> Result<Signal, Refusal> {
    let t = text.trim().to_ascii_uppercase();
    let signal = match t.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) if t.starts_with("SIG") => t.parse().ok(),
        Err(_) => format!("SIG{t}").parse().ok(),
    };
    let catchable = |s: &Signal| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP);
    signal.filter(catchable).ok_or(None)
}

/// `:PORT` on `host`, else the address as written.
fn socket(text: &str, host: &str) -> Result<SocketAddr, Refusal> {
    let t = text.trim();
    match t.strip_prefix(':') {
        Some(port) => format!("{host}:{port}").parse(),
        None => t.parse(),
    }
    .map_err(|_| None)
}

fn loopback(text: &str) -> Result<SocketAddr, Refusal> {
    match socket(text, "127.0.0.1")? {
        a if a.ip().is_loopback() => Ok(a),
        _ => Err(Some(format!(
            "expected {}: the endpoint lends the supervisor's credentials to whoever connects, \
             so it listens on loopback only",
            (Loopback::TRAITS.takes)()
        ))),
    }
}

fn queues(text: &str) -> Result<Vec<String>, Refusal> {
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    (!names.iter().any(String::is_empty))
        .then_some(names)
        .ok_or(None)
}

/// One of the values of `E`.
#[derive(Clone, Copy)]
pub struct Choice<E>(std::marker::PhantomData<E>);

/// Its values' names, as `a, b or c`.
pub fn choices<E: ValueEnum>() -> String {
    let names: Vec<String> = E::value_variants().iter().map(Choice::<E>::show).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl<E: ValueEnum> Kind for Choice<E> {
    type Value = E;
    const TRAITS: Traits = Traits {
        takes: choices::<E>,
        hyphen_values: false,
        choice: true,
    };
    fn parse(text: &str) -> Result<E, Refusal> {
        E::from_str(text.trim(), false).map_err(|_| None)
    }
    fn show(value: &E) -> String {
        value
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}
