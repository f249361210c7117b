//! temporal-supervisor: waits for a Temporal server to be ready, then starts the worker, and
//! keeps watching both.
//!
//! # How it works
//!
//! 1. [`cli`] parses the command line into raw text; [`config`] layers flags, environment, our
//!    TOML file, Temporal's profile file and defaults from one table of settings, validates
//!    everything, and fails with one line naming the bad value and its source (exit 2).
//! 2. [`temporal::probe`] makes one readiness attempt in stages (resolve, connect, grpc,
//!    health, namespace), bounded as a whole by the attempt timeout.
//! 3. [`temporal::gate`] repeats attempts on the [`backoff`] schedule, watching a refusing port
//!    between attempts so that it proceeds as soon as the server opens.
//! 4. The command decides what readiness leads to: `check` reports, `wait` exits 0, `exec`
//!    replaces this process with the worker ([`process::exec`]), and `run` supervises
//!    ([`supervise`]): it starts the workers as children, watches Temporal with
//!    [`temporal::monitor`] and each worker's pollers with [`temporal::pollers`], keeps the
//!    workers through an outage and replaces one that does not poll again, forwards signals,
//!    reaps orphans, and reports through [`serve`] (health endpoints and metrics); `watch`
//!    ([`watch`]) does the same watching for workers it does not start (a sidecar).
//!
//! Lower layers never call up. The commands that stay (`supervise`, `watch`) use [`watcher`]
//! (the wait and the monitor, recording into the status), `temporal`, `process` and `serve`;
//! `serve` uses `temporal`'s probe error and `process`'s descriptor limit; `temporal` and
//! `process` use only `config`'s types and the small modules at the top ([`backoff`],
//! [`duration`], [`files`], [`task`]). Exit codes are in [`exit`].

// The crate is a binary's library: its documentation is read with --document-private-items.
#![allow(rustdoc::private_intra_doc_links)]

mod backoff;
mod cli;
mod config;
mod credentials;
mod duration;
mod endpoint;
mod exit;
mod files;
pub mod fuzz;
mod host;
mod logging;
mod process;
mod serve;
mod supervise;
mod task;
mod temporal;
mod watch;
mod watcher;

pub use config::Env;

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use tracing::{error, info, warn};

use crate::cli::Command;
use crate::config::Config;
use crate::temporal::probe::{Prober, Stage};

/// Runs the program with these arguments and this environment; returns the exit code.
///
/// Call it once, from the main thread, before any other thread starts: it clears the signal
/// mask inherited from the parent, which every thread started later inherits in turn.
pub fn run(args: impl IntoIterator<Item = OsString>, env: &Env) -> u8 {
    process::signals::clear_mask();
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let workers = match &cli.command {
        Command::Run { command } => config::Workers::Run(command),
        Command::Watch => config::Workers::Watch,
        _ => config::Workers::None,
    };
    let config = match config::resolve(&cli.flags, workers, env) {
        Ok(config) => config,
        Err(e) => return fatal(exit::USAGE, &e.0),
    };
    if let Command::Config = cli.command {
        return print_config(&config);
    }
    if let Err(e) = logging::init(&config.log, env.get("RUST_LOG").map(String::as_str)) {
        return fatal(exit::USAGE, &e.0);
    }
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fatal(
                exit::OS_ERROR,
                &format!("cannot start the async runtime: {e}"),
            );
        }
    };
    let code = match cli.command {
        Command::Check => runtime.block_on(check(&config)),
        Command::Wait => runtime.block_on(wait(&config)),
        Command::Exec { command } => return wait_and_exec(runtime, &config, &command),
        Command::Run { .. } => runtime.block_on(supervise::run(&config)),
        Command::Watch => runtime.block_on(watch::run(&config)),
        Command::Status { worker } => runtime.block_on(status(&config, worker.as_deref())),
        Command::Config => unreachable!("handled above"),
    };
    runtime.shutdown_background();
    logging::flush(LOG_FLUSH_LIMIT);
    code
}

/// `config`: the settings and where each came from, with the warnings.
fn print_config(config: &Config) -> u8 {
    let mut report = config::render_report(&config.report);
    for warning in &config.warnings {
        report.push_str(&format!("# warning: {warning}\n"));
    }
    logging::print_stdout(&report);
    exit::OK
}

/// `exec`: the wait, then the worker in place of this process.
fn wait_and_exec(runtime: tokio::runtime::Runtime, config: &Config, command: &[OsString]) -> u8 {
    // A command that cannot run fails now, not after the wait.
    let path = config.path.as_deref().map(std::ffi::OsStr::new);
    if let Err(e) = process::command::resolve(&command[0], path, None) {
        return fatal(e.code, &e.message);
    }
    let code = runtime.block_on(wait(config));
    // Nothing of ours may outlive the exec: stop the runtime's threads first.
    runtime.shutdown_background();
    if code == exit::OK {
        return exec(command);
    }
    logging::flush(LOG_FLUSH_LIMIT);
    code
}

/// How long to wait, at most, for queued log lines to be written before exiting or exec'ing.
const LOG_FLUSH_LIMIT: Duration = Duration::from_millis(500);

/// `exec`: replaces this process with the worker; returns only when that failed.
fn exec(command: &[OsString]) -> u8 {
    let shown: Vec<_> = command.iter().map(|w| w.to_string_lossy()).collect();
    info!(command = %shown.join(" "), "starting the worker");
    logging::flush(LOG_FLUSH_LIMIT);
    let (code, message) = process::exec::exec(command);
    error!("{message}");
    logging::flush(LOG_FLUSH_LIMIT);
    code
}

async fn check(config: &Config) -> u8 {
    let prober = Prober::new(config.connection.clone());
    match prober.attempt(config.wait.attempt_timeout).await {
        Ok(ready) => {
            info!(
                address = %prober.settings().address(),
                latency = %duration::format(ready.latency),
                "Temporal is ready"
            );
            exit::OK
        }
        Err(e) => {
            logging::warn_or_error!(
                e.stage == Stage::Auth,
                address = %prober.settings().address(),
                stage = %e.stage,
                reason = %e.reason,
                "Temporal not ready"
            );
            exit::NOT_READY
        }
    }
}

async fn wait(config: &Config) -> u8 {
    let prober = Prober::new(config.connection.clone());
    match temporal::gate::wait_until_ready(&prober, &config.wait, &mut |_| {}).await {
        Ok(_) => exit::OK,
        Err(_) => exit::UNAVAILABLE,
    }
}

/// `status`: asks a running supervisor's `/readyz` (about one worker, with `--worker`).
async fn status(config: &Config, worker: Option<&str>) -> u8 {
    if let Some(name) = worker.filter(|name| !config::workers::valid_name(name)) {
        return fatal(
            exit::USAGE,
            &format!(
                "flag --worker: invalid worker name '{name}': use letters, digits, '-' and '_'"
            ),
        );
    }
    let Some(mut addr) = config.health.listen else {
        error!(
            "status needs the supervisor's health address: --health-listen, \
             TEMPORAL_SUPERVISOR_HEALTH_LISTEN or health_listen"
        );
        return exit::USAGE;
    };
    // A wildcard listen address is reached on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    match serve::health::ask_ready(addr, config.wait.attempt_timeout, worker).await {
        Ok((code, body)) if code.is_success() => {
            info!(%addr, "ready: {}", body.trim());
            exit::OK
        }
        Ok((code, body)) => {
            warn!(%addr, code = code.as_u16(), "not ready: {}", body.trim());
            exit::NOT_READY
        }
        Err(e) => {
            warn!("not ready: {e}");
            exit::NOT_READY
        }
    }
}

/// Prints a fatal error as one line and returns its exit code.
fn fatal(code: u8, message: &str) -> u8 {
    logging::print_stderr(&format!(
        "temporal-supervisor: error: {}",
        one_line(message)
    ));
    code
}

/// Folds a multi-line message (a TOML parser's snippet, clap's hints) into one line: code
/// snippets, usage and tips are dropped, the remaining lines joined.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| {
            let snippet = l.starts_with('|')
                || l.split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()));
            !(l.is_empty() || snippet || l.starts_with("tip:"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Help and version go to stdout with exit 0; usage errors become one line and exit 2, with
/// clap's closest suggestion when it has one.
fn usage_error(e: clap::Error) -> u8 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            logging::print_stdout(&e.render().to_string());
            exit::OK
        }
        _ => {
            let rendered = e.render().to_string();
            let message = one_line(&rendered);
            let message = message.trim_start_matches("error: ");
            let message = match suggestion(&e) {
                Some(tip) => format!("{message}; {tip}"),
                None => message.to_string(),
            };
            fatal(exit::USAGE, &format!("{message} (see --help)"))
        }
    }
}

/// What clap suggests instead of an unknown option, command or value: `a similar argument
/// exists: '--task-queue'`.
fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let kinds = [
        (ContextKind::SuggestedArg, "argument"),
        (ContextKind::SuggestedSubcommand, "command"),
        (ContextKind::SuggestedValue, "value"),
    ];
    kinds.into_iter().find_map(|(kind, what)| {
        let similar = match e.get(kind)? {
            ContextValue::String(s) => s.clone(),
            ContextValue::Strings(v) => v.first()?.clone(),
            _ => return None,
        };
        Some(format!("a similar {what} exists: '{similar}'"))
    })
}
