//! Command-line syntax. Stage one of two: clap checks the shape of the command line (the
//! commands are derived below, every option comes from the settings table) and keeps each
//! option's value as the raw text typed; [`crate::config`] validates and layers them, so that
//! an error names the value and where it came from, whatever the source.

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Flags;
use crate::config::table::{Def, Shape, options};

/// Waits for a Temporal server to be ready (health SERVING and namespace registered), then
/// starts the worker. Every option can also come from the environment or a TOML file.
#[derive(Debug, Parser)]
#[command(name = "temporal-supervisor", version = VERSION, propagate_version = true)]
#[command(disable_help_subcommand = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Every option given, as typed (filled from the settings table's options, not by the
    /// derive).
    #[arg(skip)]
    pub flags: Flags,
}

/// What `--version` prints after the name: the crate's version, and the commit it was built
/// from when known (see build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("TEMPORAL_SUPERVISOR_BUILD"));

// The command of `exec` and `run` (CMD) takes every argument from its first one on as it is
// (`trailing_var_arg`), so the worker's own options reach it untouched, after `--` or without
// it. Its first argument may not start with `-` unless it comes after `--`: an unknown option
// of ours (a typo) is then an error that names it, not a command to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait until Temporal is ready, then exit 0 (69 when attempts or --timeout run out).
    Wait,
    /// Make one readiness attempt: exit 0 when ready, 1 when not.
    Check,
    /// Wait until Temporal is ready, then replace this process with CMD (same PID).
    Exec {
        /// The command to run and its arguments, after `--`.
        #[arg(value_name = "CMD", required = true, num_args = 1.., trailing_var_arg = true)]
        command: Vec<OsString>,
    },
    /// Wait for Temporal, run the workers (CMD, or the config file's) as supervised children,
    /// keep them through outages, replace one that does not poll again.
    Run {
        /// The worker's command and its arguments, after `--`; without it, the config file's
        /// `command` or its [workers.NAME] tables.
        #[arg(value_name = "CMD", num_args = 0.., trailing_var_arg = true)]
        command: Vec<OsString>,
    },
    /// Start nothing: prove that this pod's workers poll their task queues, and serve health
    /// endpoints for them (a sidecar).
    Watch,
    /// Ask a running supervisor's /readyz (at --health-listen): exit 0 when ready, 1 when not.
    Status {
        /// Ask about this worker only.
        #[arg(long, value_name = "NAME")]
        worker: Option<String>,
    },
    /// Print the effective configuration, each value with where it came from.
    Config,
}

/// Parses the command line: the command, and every option as typed.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.flags = flags(&matches);
    Ok(cli)
}

/// The command line: the commands, and one global option per setting.
pub fn command() -> clap::Command {
    options().fold(Cli::command(), |command, def| command.arg(option(def)))
}

fn option(def: &Def) -> Arg {
    // A choice's values are listed.
    let values = def.kind.choice.then(|| format!(": {}", def.takes()));
    let values = values.unwrap_or_default();
    let (env, default) = (def.env, def.shown_default());
    let help = format!("{}{values} [env: {env}] [default: {default}]", def.help);
    let arg = Arg::new(def.key)
        .long(def.key.replace('_', "-"))
        .value_name(def.value_name)
        .help(help)
        .help_heading(def.section.0)
        .global(true)
        .allow_hyphen_values(def.kind.hyphen_values);
    match def.shape {
        Shape::Value => arg,
        Shape::Switch => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true"),
        Shape::List => arg.action(ArgAction::Append),
    }
}

/// Every option given, as typed (a repeated one's values joined with commas).
fn flags(matches: &ArgMatches) -> Flags {
    options()
        .filter_map(|def| {
            let values: Vec<&str> = matches.get_many(def.key)?.map(String::as_str).collect();
            Some((def.key, values.join(",")))
        })
        .collect()
}
