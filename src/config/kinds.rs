//! The kinds of setting values: one parser for each, whatever the source (a flag, a variable
//! and the file all give text), and how a value is shown in the `config` report. A parser's
//! error says what it expected; the resolver adds the value and where it came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use nix::sys::signal::Signal;

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

/// Why a value was refused: what the setting takes (its own words, else its kind's, as the
/// resolver words it), that and why, or the kind's own reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Expected,
    ExpectedBecause(&'static str),
    Reason(String),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal::Reason(reason)
    }
}

/// A kind of value.
pub trait Kind {
    type Value;
    /// What it takes, in words, for errors and the reference.
    const TAKES: &'static str;
    const HYPHEN_VALUES: bool = false;
    const CHOICE: bool = false;
    const TRAITS: Traits = Traits {
        takes: Self::describe,
        hyphen_values: Self::HYPHEN_VALUES,
        choice: Self::CHOICE,
    };
    /// What it takes, in words (the values of a choice).
    fn describe() -> String {
        Self::TAKES.to_string()
    }
    fn parse(text: &str) -> Result<Self::Value, Refusal>;
    fn show(value: &Self::Value) -> String;
    /// The text as an error may show it (see [`crate::config::address`]).
    fn redact(text: &str) -> String {
        text.to_string()
    }
}

/// A whole number from 0 up.
pub struct Count;
/// A whole number from 1 up.
pub struct AtLeastOne;
/// A duration, zero allowed.
pub struct Dur;
/// A duration longer than zero.
pub struct Positive;
/// A limit: a duration, where 0 means none.
pub struct Limit;
/// A growth factor from 1 to 100.
pub struct Factor;
/// A fraction from 0 to 1.
pub struct Fraction;
/// true or false.
pub struct Flag;
/// A signal that asks a process to stop (not SIGKILL or SIGSTOP).
pub struct StopSignal;
/// An address to listen on.
pub struct Listen;
/// A loopback address to listen on (`:PORT` is 127.0.0.1).
pub struct Loopback;
/// Non-empty text, trimmed.
pub struct Text;
/// A file's name.
pub struct File;
/// Task queue names, comma-separated.
pub struct Queues;
/// One of the values of `E`.
pub struct Choice<E>(std::marker::PhantomData<E>);

fn number<T: std::str::FromStr>(text: &str) -> Result<T, Refusal> {
    text.trim().parse().map_err(|_| Refusal::Expected)
}

/// A number within `range` (never NaN or infinite).
fn number_in(text: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, Refusal> {
    number(text).and_then(|f| match range.contains(&f) {
        true => Ok(f),
        false => Err(Refusal::Expected),
    })
}

impl Kind for Count {
    type Value = u32;
    const TAKES: &'static str = "a whole number from 0 up";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<u32, Refusal> {
        number(text)
    }
    fn show(n: &u32) -> String {
        n.to_string()
    }
}

impl Kind for AtLeastOne {
    type Value = u32;
    const TAKES: &'static str = "a whole number from 1 up";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<u32, Refusal> {
        number(text).and_then(|n| match n {
            0 => Err(Refusal::Expected),
            n => Ok(n),
        })
    }
    fn show(n: &u32) -> String {
        n.to_string()
    }
}

impl Kind for Dur {
    type Value = Duration;
    const TAKES: &'static str = "a duration such as 500ms, 2s, 1m30s or 1.5";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<Duration, Refusal> {
        Ok(duration::parse(text)?)
    }
    fn show(d: &Duration) -> String {
        duration::format(*d)
    }
}

impl Kind for Positive {
    type Value = Duration;
    const TAKES: &'static str = "a duration longer than zero, such as 500ms, 2s or 1m30s";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<Duration, Refusal> {
        match duration::parse(text)? {
            d if d.is_zero() => Err(Refusal::Reason("must be longer than zero".into())),
            d => Ok(d),
        }
    }
    fn show(d: &Duration) -> String {
        duration::format(*d)
    }
}

impl Kind for Limit {
    type Value = Option<Duration>;
    const TAKES: &'static str = "a duration such as 10m, or 0 for no limit";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<Option<Duration>, Refusal> {
        Ok(duration::parse(text).map(|d| (!d.is_zero()).then_some(d))?)
    }
    fn show(d: &Option<Duration>) -> String {
        d.map_or("none".into(), duration::format)
    }
}

impl Kind for Factor {
    type Value = f64;
    const TAKES: &'static str = "a number from 1 to 100";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<f64, Refusal> {
        number_in(text, 1.0..=100.0)
    }
    fn show(f: &f64) -> String {
        format!("{f}")
    }
}

impl Kind for Fraction {
    type Value = f64;
    const TAKES: &'static str = "a number from 0 to 1";
    const HYPHEN_VALUES: bool = true;
    fn parse(text: &str) -> Result<f64, Refusal> {
        number_in(text, 0.0..=1.0)
    }
    fn show(f: &f64) -> String {
        format!("{f}")
    }
}

impl Kind for Flag {
    type Value = bool;
    const TAKES: &'static str = "true or false";
    fn parse(text: &str) -> Result<bool, Refusal> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(Refusal::Expected),
        }
    }
    fn show(b: &bool) -> String {
        b.to_string()
    }
}

impl Kind for StopSignal {
    type Value = Signal;
    const TAKES: &'static str =
        "a signal name or number, such as SIGTERM, SIGINT or 15 (not SIGKILL or SIGSTOP)";
    fn parse(text: &str) -> Result<Signal, Refusal> {
        let t = text.trim().to_ascii_uppercase();
        let signal = match t.parse::<i32>() {
            Ok(n) => Signal::try_from(n).ok(),
            Err(_) if t.starts_with("SIG") => t.parse().ok(),
            Err(_) => format!("SIG{t}").parse().ok(),
        };
        match signal {
            Some(Signal::SIGKILL | Signal::SIGSTOP) | None => Err(Refusal::Expected),
            Some(signal) => Ok(signal),
        }
    }
    fn show(s: &Signal) -> String {
        s.as_str().into()
    }
}

/// `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    StopSignal::parse(text).map_err(|_| format!("expected {}", StopSignal::TAKES))
}

/// `:PORT` on `host`, else the address as written.
fn socket(text: &str, host: &str) -> Result<SocketAddr, Refusal> {
    let t = text.trim();
    match t.strip_prefix(':') {
        Some(port) => format!("{host}:{port}").parse(),
        None => t.parse(),
    }
    .map_err(|_| Refusal::Expected)
}

impl Kind for Listen {
    type Value = SocketAddr;
    const TAKES: &'static str = "an IP address and port such as 0.0.0.0:8080 or :8080";
    fn parse(text: &str) -> Result<SocketAddr, Refusal> {
        socket(text, "0.0.0.0")
    }
    fn show(a: &SocketAddr) -> String {
        a.to_string()
    }
}

impl Kind for Loopback {
    type Value = SocketAddr;
    const TAKES: &'static str = "a loopback address and port such as 127.0.0.1:7233 or :7233";
    fn parse(text: &str) -> Result<SocketAddr, Refusal> {
        match socket(text, "127.0.0.1")? {
            a if a.ip().is_loopback() => Ok(a),
            _ => Err(Refusal::ExpectedBecause(
                "the endpoint lends the supervisor's credentials to whoever connects, so it \
                 listens on loopback only",
            )),
        }
    }
    fn show(a: &SocketAddr) -> String {
        a.to_string()
    }
}

impl Kind for Text {
    type Value = String;
    const TAKES: &'static str = "a value";
    fn parse(text: &str) -> Result<String, Refusal> {
        match text.trim() {
            "" => Err(Refusal::Expected),
            t => Ok(t.to_string()),
        }
    }
    fn show(t: &String) -> String {
        t.clone()
    }
}

impl Kind for File {
    type Value = PathBuf;
    const TAKES: &'static str = "a file name";
    fn parse(text: &str) -> Result<PathBuf, Refusal> {
        match text {
            "" => Err(Refusal::Expected),
            t => Ok(PathBuf::from(t)),
        }
    }
    fn show(path: &PathBuf) -> String {
        path.display().to_string()
    }
}

impl Kind for Queues {
    type Value = Vec<String>;
    const TAKES: &'static str = "task queue names separated by commas";
    fn parse(text: &str) -> Result<Vec<String>, Refusal> {
        let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(Refusal::Expected);
        }
        Ok(names)
    }
    fn show(names: &Vec<String>) -> String {
        names.join(",")
    }
}

/// Its values' names, as `a, b or c`.
pub fn choices<E: ValueEnum>() -> String {
    let names: Vec<String> = E::value_variants()
        .iter()
        .filter_map(|v| Some(v.to_possible_value()?.get_name().to_string()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl<E: ValueEnum> Kind for Choice<E> {
    type Value = E;
    const TAKES: &'static str = "one of its values";
    const CHOICE: bool = true;
    fn describe() -> String {
        choices::<E>()
    }
    fn parse(text: &str) -> Result<E, Refusal> {
        E::from_str(text.trim(), false).map_err(|_| Refusal::Expected)
    }
    fn show(value: &E) -> String {
        value
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}
