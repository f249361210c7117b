//! Command-line syntax. Stage one of two: clap checks the shape of the command line and keeps
//! every value as the raw text the user typed; [`crate::config`] validates and layers them, so
//! that an error can name the value and where it came from, whatever the source.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The crate's version and, when it was built in a git checkout, the commit (see build.rs):
/// `0.1.0 (576f63f5a2b1 2026-12-01)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("TEMPORAL_SUPERVISOR_BUILD"));

/// Waits for a Temporal server to be ready (health SERVING and namespace registered), then
/// starts the worker. Every option can also come from the environment or a TOML file.
#[derive(Debug, Parser)]
#[command(name = "temporal-supervisor", version = VERSION, propagate_version = true)]
#[command(disable_help_subcommand = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub options: Options,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait until Temporal is ready, then exit 0 (69 when attempts or --timeout run out).
    Wait,
    /// Make one readiness attempt: exit 0 when ready, 1 when not.
    Check,
    /// Wait until Temporal is ready, then replace this process with CMD (same PID).
    Exec {
        /// The command to run and its arguments, after `--`.
        #[arg(
            value_name = "CMD",
            required = true,
            num_args = 1..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<OsString>,
    },
    /// Wait for Temporal, run the workers (CMD, or the config file's) as supervised children,
    /// restart them when Temporal is lost.
    Run {
        /// The worker's command and its arguments, after `--`; without it, the config file's
        /// `command` or its [workers.NAME] tables.
        #[arg(
            value_name = "CMD",
            num_args = 0..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<OsString>,
    },
    /// Ask a running supervisor's /readyz (at --health-listen): exit 0 when ready, 1 when not.
    Status {
        /// Ask about this worker only.
        #[arg(long, value_name = "NAME")]
        worker: Option<String>,
    },
    /// Print the effective configuration, each value with where it came from.
    Config,
}

/// Options shared by every command. They may be given before or after the command name.
#[derive(Debug, Default, Args)]
pub struct Options {
    /// TOML file with supervisor settings [env: TEMPORAL_SUPERVISOR_CONFIG]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Configuration"
    )]
    pub config: Option<PathBuf>,

    /// Temporal frontend, host:port [env: TEMPORAL_ADDRESS] [default: localhost:7233]
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        help_heading = "Connection"
    )]
    pub address: Option<String>,
    /// Namespace that must exist [env: TEMPORAL_NAMESPACE] [default: default]
    #[arg(long, global = true, value_name = "NAME", help_heading = "Connection")]
    pub namespace: Option<String>,
    /// API key, sent as a bearer token; turns TLS on [env: TEMPORAL_API_KEY]
    #[arg(long, global = true, value_name = "KEY", help_heading = "Connection")]
    pub api_key: Option<String>,
    /// Use TLS (--tls or --tls=false) [env: TEMPORAL_TLS]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        help_heading = "Connection"
    )]
    pub tls: Option<String>,
    /// CA certificate (PEM) for the server [env: TEMPORAL_TLS_SERVER_CA_CERT_PATH]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub tls_ca_path: Option<String>,
    /// Client certificate (PEM) for mTLS [env: TEMPORAL_TLS_CLIENT_CERT_PATH]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub tls_cert_path: Option<String>,
    /// Client private key (PEM) for mTLS [env: TEMPORAL_TLS_CLIENT_KEY_PATH]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub tls_key_path: Option<String>,
    /// Name to verify the server certificate against (and SNI) [env: TEMPORAL_TLS_SERVER_NAME]
    #[arg(long, global = true, value_name = "NAME", help_heading = "Connection")]
    pub tls_server_name: Option<String>,
    /// Profile in Temporal's profile file [env: TEMPORAL_PROFILE]
    #[arg(long, global = true, value_name = "NAME", help_heading = "Connection")]
    pub profile: Option<String>,

    /// Most readiness attempts, 0 for no limit [default: 10]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub max_retries: Option<String>,
    /// Delay after the first failed attempt [default: 1s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub initial_delay: Option<String>,
    /// Longest delay between attempts [default: 60s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub max_delay: Option<String>,
    /// Growth of the delay after each failure [default: 2.0]
    #[arg(
        long,
        global = true,
        value_name = "FACTOR",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub backoff_factor: Option<String>,
    /// Largest fraction of a delay removed at random, 0 to 1 [default: 0.2]
    #[arg(
        long,
        global = true,
        value_name = "FRACTION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub jitter: Option<String>,
    /// Give up after this long in all, 0 for no limit [default: 0]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub timeout: Option<String>,
    /// Bound on one attempt: DNS, TCP, TLS and RPCs [default: 5s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub attempt_timeout: Option<String>,
    /// While the port refuses connections, look again this often [default: 100ms]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub port_watch_interval: Option<String>,
    /// While Temporal answers but is not ready (namespace missing, not SERVING), and while
    /// run suspects it is gone, look again this often [default: 1s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Waiting",
        allow_hyphen_values = true
    )]
    pub recheck_interval: Option<String>,

    /// Signal that asks the worker to stop [default: SIGTERM]
    #[arg(
        long,
        global = true,
        value_name = "SIGNAL",
        help_heading = "Supervising (run)"
    )]
    pub stop_signal: Option<String>,
    /// Grace period after the stop signal, then SIGKILL [default: 25s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub stop_timeout: Option<String>,
    /// While all is well, a request this often proves the namespace (without a health watch,
    /// that Temporal is there at all) [default: 60s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub probe_interval: Option<String>,
    /// Bound on one probe [default: 3s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub probe_timeout: Option<String>,
    /// HTTP/2 keepalive ping interval on the probe connection; Temporal's frontend refuses
    /// pings more often than every 10 s [default: 12s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub keepalive_interval: Option<String>,
    /// A keepalive ping not answered within this closes the connection [default: 3s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub keepalive_timeout: Option<String>,
    /// Consecutive failed probes before Temporal counts as lost [default: 3]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub failure_threshold: Option<String>,
    /// Consecutive good probes before Temporal counts as back [default: 1]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub success_threshold: Option<String>,
    /// When Temporal is lost: keep (the workers ride it out; one that does not poll again is
    /// replaced), restart, exit or ignore [default: keep]
    #[arg(
        long,
        global = true,
        value_name = "ACTION",
        help_heading = "Supervising (run)"
    )]
    pub on_disconnect: Option<String>,
    /// Workers started again after Temporal's return start at a random moment within this
    /// window, so that a fleet does not start in step; 0 for at once [default: 2s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub restart_spread: Option<String>,
    /// When the worker exits by itself: never, on-failure or always [default: on-failure]
    #[arg(
        long,
        global = true,
        value_name = "POLICY",
        help_heading = "Supervising (run)"
    )]
    pub restart: Option<String>,
    /// Delay before the first restart of a failed worker [default: 1s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub restart_delay: Option<String>,
    /// Longest delay between restarts [default: 60s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub restart_max_delay: Option<String>,
    /// A worker that ran this long counts as stable: restart delays start over [default: 60s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub restart_reset_after: Option<String>,
    /// Most restarts, then exit with the worker's last code; 0 for no limit [default: 0]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Supervising (run)",
        allow_hyphen_values = true
    )]
    pub max_restarts: Option<String>,

    /// Serve /livez, /readyz, /startupz and /metrics on this address, e.g. 0.0.0.0:8080 or :8080
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        help_heading = "Health and pollers"
    )]
    pub health_listen: Option<String>,
    /// Task queue the worker must poll (repeatable, or comma-separated)
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Health and pollers"
    )]
    pub task_queue: Vec<String>,
    /// Which pollers count: any, workflow or activity [default: any]
    #[arg(
        long,
        global = true,
        value_name = "TYPE",
        help_heading = "Health and pollers"
    )]
    pub task_queue_type: Option<String>,
    /// A worker not polling this long after its start is restarted [default: 60s]
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        help_heading = "Health and pollers",
        allow_hyphen_values = true
    )]
    pub poller_deadline: Option<String>,
    /// The worker's poller identity; {pid} and {hostname} are replaced, * matches anything [default: the SDKs' {pid}@{hostname} and Go's {pid}@{hostname}@]
    #[arg(
        long,
        global = true,
        value_name = "PATTERN",
        help_heading = "Health and pollers"
    )]
    pub worker_identity: Option<String>,
    /// The worker's deployment name (worker versioning); with --build-id, readiness needs the
    /// worker's pollers to carry both [env: TEMPORAL_DEPLOYMENT_NAME]
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Health and pollers"
    )]
    pub deployment_name: Option<String>,
    /// The worker's build ID (worker versioning) [env: TEMPORAL_WORKER_BUILD_ID]
    #[arg(
        long,
        global = true,
        value_name = "ID",
        help_heading = "Health and pollers"
    )]
    pub build_id: Option<String>,
    /// Hand the resolved connection to the worker as TEMPORAL_* variables (--export-connection=false
    /// leaves its environment untouched) [default: true]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        help_heading = "Supervising (run)"
    )]
    pub export_connection: Option<String>,

    /// Log format: text or json [default: text]
    #[arg(long, global = true, value_name = "FORMAT", help_heading = "Logging")]
    pub log_format: Option<String>,
    /// Log level: error, warn, info, debug or trace [default: info; RUST_LOG also works]
    #[arg(long, global = true, value_name = "LEVEL", help_heading = "Logging")]
    pub log_level: Option<String>,
}
