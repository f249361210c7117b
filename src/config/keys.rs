//! Every setting by its three names: the key in our file, the flag, and the environment
//! variable. The same table types the file: [`FileConfig`] has exactly one field per key, so
//! an unknown key in the file is an error that names it.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::config::file::Scalar;
use crate::config::workers::WorkerFile;

/// One setting: its file key, flag, and environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
    /// The setting's value in our file, if the file has it.
    pub in_file: fn(&FileConfig) -> Option<&Scalar>,
}

macro_rules! keys {
    ($($name:ident: $konst:ident = $flag:literal, $env:literal;)*) => {
        $(pub const $konst: Key = Key {
            name: stringify!($name),
            flag: $flag,
            env: $env,
            in_file: |file| file.$name.as_ref(),
        };)*

        /// Every setting, in the order `config` prints them.
        pub const ALL_KEYS: &[Key] = &[$($konst),*];

        /// Our TOML file as written: one optional value per setting, the worker's command or
        /// named workers; unknown keys refused. Values stay scalars here and are checked by
        /// the same parsers as flags and variables, so an error reads the same whatever the
        /// source.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileConfig {
            $(#[serde(default)] pub $name: Option<Scalar>,)*
            /// The one worker's program and arguments (instead of `-- CMD`).
            #[serde(default)]
            pub command: Option<Vec<String>>,
            /// Named workers (`[workers.NAME]`), in the order written.
            #[serde(default)]
            pub workers: IndexMap<String, WorkerFile>,
        }
    };
}

keys! {
    address: ADDRESS = "--address", "TEMPORAL_ADDRESS";
    namespace: NAMESPACE = "--namespace", "TEMPORAL_NAMESPACE";
    api_key: API_KEY = "--api-key", "TEMPORAL_API_KEY";
    tls: TLS = "--tls", "TEMPORAL_TLS";
    tls_ca_path: TLS_CA_PATH = "--tls-ca-path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH";
    tls_cert_path: TLS_CERT_PATH = "--tls-cert-path", "TEMPORAL_TLS_CLIENT_CERT_PATH";
    tls_key_path: TLS_KEY_PATH = "--tls-key-path", "TEMPORAL_TLS_CLIENT_KEY_PATH";
    tls_server_name: TLS_SERVER_NAME = "--tls-server-name", "TEMPORAL_TLS_SERVER_NAME";
    profile: PROFILE = "--profile", "TEMPORAL_PROFILE";
    max_retries: MAX_RETRIES = "--max-retries", "TEMPORAL_SUPERVISOR_MAX_RETRIES";
    initial_delay: INITIAL_DELAY = "--initial-delay", "TEMPORAL_SUPERVISOR_INITIAL_DELAY";
    max_delay: MAX_DELAY = "--max-delay", "TEMPORAL_SUPERVISOR_MAX_DELAY";
    backoff_factor: BACKOFF_FACTOR = "--backoff-factor", "TEMPORAL_SUPERVISOR_BACKOFF_FACTOR";
    jitter: JITTER = "--jitter", "TEMPORAL_SUPERVISOR_JITTER";
    timeout: TIMEOUT = "--timeout", "TEMPORAL_SUPERVISOR_TIMEOUT";
    attempt_timeout: ATTEMPT_TIMEOUT = "--attempt-timeout", "TEMPORAL_SUPERVISOR_ATTEMPT_TIMEOUT";
    port_watch_interval: PORT_WATCH_INTERVAL = "--port-watch-interval",
        "TEMPORAL_SUPERVISOR_PORT_WATCH_INTERVAL";
    recheck_interval: RECHECK_INTERVAL = "--recheck-interval",
        "TEMPORAL_SUPERVISOR_RECHECK_INTERVAL";
    stop_signal: STOP_SIGNAL = "--stop-signal", "TEMPORAL_SUPERVISOR_STOP_SIGNAL";
    stop_timeout: STOP_TIMEOUT = "--stop-timeout", "TEMPORAL_SUPERVISOR_STOP_TIMEOUT";
    probe_interval: PROBE_INTERVAL = "--probe-interval", "TEMPORAL_SUPERVISOR_PROBE_INTERVAL";
    probe_timeout: PROBE_TIMEOUT = "--probe-timeout", "TEMPORAL_SUPERVISOR_PROBE_TIMEOUT";
    keepalive_interval: KEEPALIVE_INTERVAL = "--keepalive-interval",
        "TEMPORAL_SUPERVISOR_KEEPALIVE_INTERVAL";
    keepalive_timeout: KEEPALIVE_TIMEOUT = "--keepalive-timeout",
        "TEMPORAL_SUPERVISOR_KEEPALIVE_TIMEOUT";
    failure_threshold: FAILURE_THRESHOLD = "--failure-threshold",
        "TEMPORAL_SUPERVISOR_FAILURE_THRESHOLD";
    success_threshold: SUCCESS_THRESHOLD = "--success-threshold",
        "TEMPORAL_SUPERVISOR_SUCCESS_THRESHOLD";
    on_disconnect: ON_DISCONNECT = "--on-disconnect", "TEMPORAL_SUPERVISOR_ON_DISCONNECT";
    restart_spread: RESTART_SPREAD = "--restart-spread", "TEMPORAL_SUPERVISOR_RESTART_SPREAD";
    restart: RESTART = "--restart", "TEMPORAL_SUPERVISOR_RESTART";
    restart_delay: RESTART_DELAY = "--restart-delay", "TEMPORAL_SUPERVISOR_RESTART_DELAY";
    restart_max_delay: RESTART_MAX_DELAY = "--restart-max-delay",
        "TEMPORAL_SUPERVISOR_RESTART_MAX_DELAY";
    restart_reset_after: RESTART_RESET_AFTER = "--restart-reset-after",
        "TEMPORAL_SUPERVISOR_RESTART_RESET_AFTER";
    max_restarts: MAX_RESTARTS = "--max-restarts", "TEMPORAL_SUPERVISOR_MAX_RESTARTS";
    health_listen: HEALTH_LISTEN = "--health-listen", "TEMPORAL_SUPERVISOR_HEALTH_LISTEN";
    task_queue: TASK_QUEUE = "--task-queue", "TEMPORAL_SUPERVISOR_TASK_QUEUE";
    task_queue_type: TASK_QUEUE_TYPE = "--task-queue-type", "TEMPORAL_SUPERVISOR_TASK_QUEUE_TYPE";
    poller_deadline: POLLER_DEADLINE = "--poller-deadline", "TEMPORAL_SUPERVISOR_POLLER_DEADLINE";
    worker_identity: WORKER_IDENTITY = "--worker-identity", "TEMPORAL_SUPERVISOR_WORKER_IDENTITY";
    deployment_name: DEPLOYMENT_NAME = "--deployment-name", "TEMPORAL_DEPLOYMENT_NAME";
    build_id: BUILD_ID = "--build-id", "TEMPORAL_WORKER_BUILD_ID";
    export_connection: EXPORT_CONNECTION = "--export-connection",
        "TEMPORAL_SUPERVISOR_EXPORT_CONNECTION";
    log_format: LOG_FORMAT = "--log-format", "TEMPORAL_SUPERVISOR_LOG_FORMAT";
    log_level: LOG_LEVEL = "--log-level", "TEMPORAL_SUPERVISOR_LOG_LEVEL";
}

/// Settings that take a list: comma-separated in flags and variables, an array in the file.
pub const LIST_KEYS: &[&str] = &["task_queue"];
