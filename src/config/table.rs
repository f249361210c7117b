//! Every setting, defined once: its key (also the file key and the report's name), its flag
//! and environment variable, its kind (which parses and shows its values), its default as the
//! text that kind parses, how an unset value reads, its value name and help, its section, and
//! whether a worker's table may set it or it is a secret. The command line's options and their
//! help ([`crate::cli`]), the file's keys ([`super::file`](mod@super::file)), the layering and the `config`
//! report ([`super::resolver`]) and docs/configuration.md (`docs.rs`) all come from here.

use std::marker::PhantomData;

use crate::config::choices::{LogFormat, LogLevel, OnDisconnect, Output, QueueType, RestartPolicy};
use temporalio_client::envconfig::ClientConfigProfile;

use crate::config::kinds::*;

/// Where a setting stands in `--help` and in the reference: its heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section(pub &'static str);

/// The sections, in the order of the help and the reference.
impl Section {
    pub const CONFIGURATION: Section = Section("Configuration");
    pub const CONNECTION: Section = Section("Connection");
    pub const WAITING: Section = Section("Waiting");
    pub const WATCHING: Section = Section("Watching Temporal (run, watch)");
    pub const SUPERVISING: Section = Section("Supervising (run)");
    pub const LOCAL_ENDPOINT: Section = Section("Local endpoint (run, watch)");
    pub const POLLERS: Section = Section("Health and pollers");
    pub const LOGGING: Section = Section("Logging");
    /// A worker's own keys: in its `[workers.NAME]` table only, with no flag or variable.
    pub const WORKER: Section = Section("A worker's own keys");
}

/// How a setting is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `--key VALUE`.
    Value,
    /// `--key` alone means true; `--key=false` turns it off.
    Switch,
    /// Repeatable, or comma-separated (an array in the file).
    List,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    /// The file key, and the name in the `config` report; the flag is `--` and the key with
    /// `-` for `_`.
    pub key: &'static str,
    /// The key in a `[workers.NAME]` table, when the worker may set it (`task_queues` for
    /// `task_queue`); `None`: the top level only.
    pub worker_key: Option<&'static str>,
    pub env: &'static str,
    /// For a PEM file's setting: the variable that holds the PEM itself instead.
    pub inline: &'static str,
    /// The default, as text its kind parses; `None`: unset unless given.
    pub default: Option<&'static str>,
    /// How the value reads in the help and the reference when it is unset.
    pub unset: &'static str,
    pub value_name: &'static str,
    pub help: &'static str,
    /// What it takes, in words, for errors and the reference, when the setting says it
    /// itself (else its kind's words, [`Def::takes`]).
    pub takes: &'static str,
    /// What its kind tells: its words, whether values may start with `-` (numbers and
    /// durations: so that `-1` reaches its parser and gets a clear error instead of clap's),
    /// whether it is a choice.
    pub kind: Traits,
    /// Its value in Temporal's profile, for the connection settings the profile holds.
    pub profile: Option<fn(&ClientConfigProfile) -> Option<String>>,
    pub section: Section,
    pub shape: Shape,
    /// Shown as `<redacted>`, never as its value.
    pub secret: bool,
    /// A key of our file too (all but `config`, which names the file).
    pub in_file: bool,
}

/// A setting whose values are of kind `K`.
#[derive(Clone, Copy)]
pub struct Key<K> {
    pub def: &'static Def,
    kind: PhantomData<fn() -> K>,
}

impl Def {
    /// The flag, as typed.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    /// The default as the help and the reference show it.
    pub fn shown_default(&self) -> &'static str {
        self.default.unwrap_or(self.unset)
    }

    /// What it takes, in words: its own, else its kind's.
    pub fn takes(&self) -> String {
        match self.takes {
            "" => (self.kind.takes)(),
            own => own.to_string(),
        }
    }
}

/// A setting with a default.
const fn set(
    key: &'static str,
    section: Section,
    value_name: &'static str,
    default: &'static str,
    help: &'static str,
) -> Def {
    Def {
        key,
        worker_key: None,
        env: "",
        inline: "",
        default: Some(default),
        unset: "",
        value_name,
        help,
        takes: "",
        kind: Text::TRAITS,
        profile: None,
        section,
        shape: Shape::Value,
        secret: false,
        in_file: true,
    }
}

/// A setting that is unset unless given; `unset` says what that means.
const fn unset(
    key: &'static str,
    section: Section,
    value_name: &'static str,
    unset: &'static str,
    help: &'static str,
) -> Def {
    Def {
        default: None,
        unset,
        ..set(key, section, value_name, "", help)
    }
}

/// A worker's own key, in its table only.
const fn own(key: &'static str, default: &'static str, help: &'static str) -> Def {
    Def {
        in_file: false,
        ..set(key, Section::WORKER, "", default, help).worker()
    }
}

impl Def {
    /// A worker's table may set it, under its own key.
    const fn worker(self) -> Def {
        Def {
            worker_key: Some(self.key),
            ..self
        }
    }
    /// Fills in what the macro knows: the kind's traits, and `TEMPORAL_SUPERVISOR_<KEY>`
    /// unless a variable was named (none for a worker's own key, in its table only).
    const fn of_kind(self, kind: Traits, env: &'static str) -> Def {
        let own = self.worker_key.is_some() && !self.in_file;
        let env = if own || !self.env.is_empty() {
            self.env
        } else {
            env
        };
        Def { kind, env, ..self }
    }
}

/// `KEY: Kind = base, { field: value, ... };`: the base (`set` or `unset`, `.worker()`), the
/// fields it does not fill, then what the kind fills in.
macro_rules! settings {
    ($($konst:ident: $kind:ty = $def:expr $(, { $($field:ident: $value:expr),* })?;)*) => {
        $(
            pub const $konst: Key<$kind> = Key {
                def: &Def { $($($field: $value,)*)? ..$def }.of_kind(
                    <$kind as Kind>::TRAITS,
                    concat!("TEMPORAL_SUPERVISOR_", stringify!($konst)),
                ),
                kind: PhantomData,
            };
        )*
        /// Every setting, in the order of the help and the reference.
        pub const ALL: &[&Def] = &[$($konst.def),*];
    };
}

settings! {
    CONFIG: File = unset("config", Section::CONFIGURATION, "FILE", "none", "TOML file with supervisor settings"), { in_file: false };

    ADDRESS: Address = set("address", Section::CONNECTION, "HOST:PORT", "localhost:7233", "Temporal frontend, host:port (an https:// URL turns TLS on)"), { env: "TEMPORAL_ADDRESS", profile: Some(|p| p.address.clone()) };
    NAMESPACE: Text = set("namespace", Section::CONNECTION, "NAME", "default", "Namespace that must exist (state REGISTERED)"), { env: "TEMPORAL_NAMESPACE", profile: Some(|p| p.namespace.clone()) };
    API_KEY: Text = unset("api_key", Section::CONNECTION, "KEY", "none", "API key, sent as a bearer token; turns TLS on"), { env: "TEMPORAL_API_KEY", secret: true, profile: Some(|p| p.api_key.clone()) };
    API_KEY_FILE: File = unset("api_key_file", Section::CONNECTION, "FILE", "none", "File that holds the API key (a mounted Secret), read again when it changes; instead of --api-key"), { env: "TEMPORAL_API_KEY_FILE" };
    TLS: Flag = unset("tls", Section::CONNECTION, "BOOL", "off unless implied", "Use TLS (--tls or --tls=false); an https address, an API key or a TLS setting implies it"), { env: "TEMPORAL_TLS", shape: Shape::Switch, profile: Some(|p| Some((p.tls.as_ref()?.disabled != Some(true)).to_string())) };
    TLS_CA_PATH: File = unset("tls_ca_path", Section::CONNECTION, "FILE", "the system's roots", "CA certificate (PEM) for the server (or the PEM itself in TEMPORAL_TLS_SERVER_CA_CERT_DATA)"), { env: "TEMPORAL_TLS_SERVER_CA_CERT_PATH", inline: "TEMPORAL_TLS_SERVER_CA_CERT_DATA" };
    TLS_CERT_PATH: File = unset("tls_cert_path", Section::CONNECTION, "FILE", "none", "Client certificate (PEM) for mTLS (or TEMPORAL_TLS_CLIENT_CERT_DATA)"), { env: "TEMPORAL_TLS_CLIENT_CERT_PATH", inline: "TEMPORAL_TLS_CLIENT_CERT_DATA" };
    TLS_KEY_PATH: File = unset("tls_key_path", Section::CONNECTION, "FILE", "none", "Client private key (PEM) for mTLS (or TEMPORAL_TLS_CLIENT_KEY_DATA)"), { env: "TEMPORAL_TLS_CLIENT_KEY_PATH", inline: "TEMPORAL_TLS_CLIENT_KEY_DATA" };
    TLS_SERVER_NAME: Text = unset("tls_server_name", Section::CONNECTION, "NAME", "the address's host", "Name to verify the server certificate against, and SNI"), { env: "TEMPORAL_TLS_SERVER_NAME", profile: Some(|p| p.tls.as_ref()?.server_name.clone()) };
    PROFILE: Text = set("profile", Section::CONNECTION, "NAME", "default", "Profile in Temporal's profile file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml)"), { env: "TEMPORAL_PROFILE" };
    KEEPALIVE_INTERVAL: Positive = set("keepalive_interval", Section::CONNECTION, "DURATION", "12s", "run, watch: HTTP/2 keepalive ping interval on the probe connection; Temporal's frontend refuses pings more often than every 10 s");
    KEEPALIVE_TIMEOUT: Positive = set("keepalive_timeout", Section::CONNECTION, "DURATION", "3s", "run, watch: a keepalive ping not answered within this closes the connection");

    MAX_RETRIES: Count = set("max_retries", Section::WAITING, "N", "10", "Most readiness attempts, 0 for no limit (run: of the first wait only; watch never gives up)");
    INITIAL_DELAY: Positive = set("initial_delay", Section::WAITING, "DURATION", "1s", "Delay after the first failed attempt");
    MAX_DELAY: Positive = set("max_delay", Section::WAITING, "DURATION", "60s", "Longest delay between attempts");
    BACKOFF_FACTOR: Factor = set("backoff_factor", Section::WAITING, "FACTOR", "2.0", "Growth of the delay after each failure");
    JITTER: Fraction = set("jitter", Section::WAITING, "FRACTION", "0.2", "Largest fraction of a delay removed at random, 0 to 1");
    TIMEOUT: Limit = set("timeout", Section::WAITING, "DURATION", "0", "Give up after this long in all, 0 for no limit (run: the first wait only; watch never gives up)");
    ATTEMPT_TIMEOUT: Positive = set("attempt_timeout", Section::WAITING, "DURATION", "5s", "Bound on one attempt: DNS, TCP, TLS and RPCs");
    PORT_WATCH_INTERVAL: Positive = set("port_watch_interval", Section::WAITING, "DURATION", "100ms", "While the port refuses connections, look again this often");
    RECHECK_INTERVAL: Positive = set("recheck_interval", Section::WAITING, "DURATION", "1s", "While Temporal answers but is not ready (namespace missing, not SERVING), and while run suspects it is gone, look again this often");

    PROBE_INTERVAL: Positive = set("probe_interval", Section::WATCHING, "DURATION", "60s", "While all is well, a request this often proves the namespace (without a health watch, that Temporal is there at all)");
    PROBE_TIMEOUT: Positive = set("probe_timeout", Section::WATCHING, "DURATION", "3s", "Bound on one probe");
    FAILURE_THRESHOLD: AtLeastOne = set("failure_threshold", Section::WATCHING, "N", "3", "Consecutive failed probes before Temporal counts as lost");
    SUCCESS_THRESHOLD: AtLeastOne = set("success_threshold", Section::WATCHING, "N", "1", "Consecutive good probes before Temporal counts as back");

    STOP_SIGNAL: StopSignal = set("stop_signal", Section::SUPERVISING, "SIGNAL", "SIGTERM", "Signal that asks the worker to stop").worker();
    STOP_TIMEOUT: Dur = set("stop_timeout", Section::SUPERVISING, "DURATION", "25s", "From the stop to SIGKILL: with the endpoint, the drain and then the stop signal; without it, the grace period after the stop signal").worker();
    STOP_GRACE: Dur = set("stop_grace", Section::SUPERVISING, "DURATION", "5s", "With the endpoint: the end of --stop-timeout kept for the stop signal; a drain ends this long before SIGKILL at the latest (none when the stop timeout is no longer)").worker();
    ON_DISCONNECT: Choice<OnDisconnect> = set("on_disconnect", Section::SUPERVISING, "ACTION", "keep", "What run does when Temporal is lost (keep rides it out and replaces a worker that does not poll again)");
    RESTART_SPREAD: Dur = set("restart_spread", Section::SUPERVISING, "DURATION", "2s", "Workers started again after Temporal's return start at a random moment within this window, so that a fleet does not start in step; 0 for at once");
    RESTART: Choice<RestartPolicy> = set("restart", Section::SUPERVISING, "POLICY", "on-failure", "When the worker exits by itself").worker();
    RESTART_DELAY: Positive = set("restart_delay", Section::SUPERVISING, "DURATION", "1s", "Delay before the first restart of a failed worker").worker();
    RESTART_MAX_DELAY: Positive = set("restart_max_delay", Section::SUPERVISING, "DURATION", "60s", "Longest delay between restarts").worker();
    RESTART_RESET_AFTER: Positive = set("restart_reset_after", Section::SUPERVISING, "DURATION", "60s", "A worker that ran this long counts as stable: restart delays start over").worker();
    MAX_RESTARTS: Count = set("max_restarts", Section::SUPERVISING, "N", "0", "Most restarts, then exit with the worker's last code; 0 for no limit").worker();
    EXPORT_CONNECTION: Flag = set("export_connection", Section::SUPERVISING, "BOOL", "true", "Hand the resolved connection to the worker as TEMPORAL_* variables (--export-connection=false leaves its environment untouched)"), { shape: Shape::Switch };

    ENDPOINT: Flag = set("endpoint", Section::LOCAL_ENDPOINT, "BOOL", "true", "run: the worker connects to a local Temporal endpoint that holds the connection (credentials included) and drains the worker on stop; --endpoint=false hands the connection over directly").worker(), { shape: Shape::Switch };
    DRAIN_POLL_WAIT: Dur = set("drain_poll_wait", Section::LOCAL_ENDPOINT, "DURATION", "3s", "Where the namespace cannot complete a draining worker's open polls (worker_poll_complete_on_shutdown), how long they may end by themselves before they end with the worker's stop").worker();
    ENDPOINT_LISTEN: Loopback = unset("endpoint_listen", Section::LOCAL_ENDPOINT, "ADDR", "run: a free loopback port per worker process; watch: off", "Where the endpoint listens (loopback only); watch: serve the pod's worker an endpoint there, e.g. :7233").worker();

    HEALTH_LISTEN: Listen = unset("health_listen", Section::POLLERS, "ADDR", "off", "Serve /livez, /readyz, /startupz and /metrics on this address, e.g. 0.0.0.0:8080 or :8080 (status: ask there)");
    TASK_QUEUE: Queues = unset("task_queue", Section::POLLERS, "NAME", "none", "Task queue the worker must poll (repeatable, or comma-separated)"), { worker_key: Some("task_queues"), shape: Shape::List };
    TASK_QUEUE_TYPE: Choice<QueueType> = set("task_queue_type", Section::POLLERS, "TYPE", "any", "Which pollers count").worker();
    POLLER_DEADLINE: Positive = set("poller_deadline", Section::POLLERS, "DURATION", "60s", "run: a worker not polling this long after its start (or Temporal's return) is replaced").worker();
    WORKER_IDENTITY: Text = unset("worker_identity", Section::POLLERS, "PATTERN", "the SDKs' {pid}@{hostname} and Go's {pid}@{hostname}@", "The worker's poller identity; {pid} and {hostname} are replaced ({pid} matches any pid under watch), * matches anything").worker(), { takes: "an identity pattern such as {pid}@{hostname}" };
    DEPLOYMENT_NAME: Text = unset("deployment_name", Section::POLLERS, "NAME", "none", "The worker's deployment name (worker versioning); with --build-id, readiness needs the worker's pollers to carry both").worker(), { env: "TEMPORAL_DEPLOYMENT_NAME", takes: "a deployment name" };
    BUILD_ID: Text = unset("build_id", Section::POLLERS, "ID", "none", "The worker's build ID (worker versioning)").worker(), { env: "TEMPORAL_WORKER_BUILD_ID", takes: "a build ID" };

    LOG_FORMAT: Choice<LogFormat> = set("log_format", Section::LOGGING, "FORMAT", "text", "Log format, on stderr");
    LOG_LEVEL: Choice<LogLevel> = unset("log_level", Section::LOGGING, "LEVEL", "info, or RUST_LOG's filter", "Our log level (other crates stay at warn); without it, RUST_LOG is a full filter");

    REPLICAS: AtLeastOne = own("replicas", "1", "How many processes of it to run; each is proven by its own pid's pollers");
    WORKING_DIR: File = own("working_dir", "", "Where it runs; relative to the file's directory"), { default: None, unset: "the supervisor's own", takes: "a directory" };
    OPTIONAL: Flag = own("optional", "false", "true: its failing is only logged, it does not end run, and readiness does not count it");
    OUTPUT: Choice<Output> = own("output", "", "prefix: each line with its name; inherit: passed through"), { default: None, unset: "prefix with several workers or replicas, else inherit" };
}

/// The settings the command line takes: all but a worker's own keys.
pub fn options() -> impl Iterator<Item = &'static Def> {
    ALL.iter().copied().filter(|d| d.section != Section::WORKER)
}

/// The setting of this key, if any.
pub fn by_key(key: &str) -> Option<&'static Def> {
    ALL.iter().copied().find(|d| d.key == key)
}

/// The setting a worker's table spells `key`, if a worker may set it.
pub fn by_worker_key(key: &str) -> Option<&'static Def> {
    ALL.iter().copied().find(|d| d.worker_key == Some(key))
}
