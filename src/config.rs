//! Configuration: sources, layering and validation.
//!
//! Every setting is looked up in the same order, the first source that has it wins:
//!
//! 1. a command-line flag (`--max-retries`),
//! 2. the environment (`TEMPORAL_SUPERVISOR_MAX_RETRIES`; connection settings use Temporal's own
//!    names, `TEMPORAL_ADDRESS` and friends),
//! 3. our TOML file, from `--config` / `TEMPORAL_SUPERVISOR_CONFIG` (`max_retries = 10`),
//! 4. for connection settings, Temporal's profile file (`TEMPORAL_CONFIG_FILE`, else
//!    `~/.config/temporalio/temporal.toml`, profile from `--profile` / `TEMPORAL_PROFILE`), read by
//!    the Temporal client's own envconfig loader,
//! 5. the default.
//!
//! Values arrive as text (TOML scalars are turned into text), are validated here, and a bad one
//! becomes a [`ConfigError`]: one line naming the value and its source. Each resolved value is
//! also recorded with its source for `temporal-supervisor config`, with secrets redacted.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use temporalio_client::envconfig::{
    ClientConfigProfile, DataSource, LoadClientConfigProfileOptions,
};
use temporalio_client::{ClientTlsOptions, ConnectionOptions, TlsOptions, Url};
use temporalio_common::envconfig::load_client_config_profile;

use crate::backoff::Backoff;
use crate::cli::Options;
use crate::duration;

/// A configuration or usage error: fatal, reported as one line, exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The process environment, as a map so that tests can pass their own.
pub type Env = HashMap<String, String>;

/// Reads the process environment, skipping variables that are not valid UTF-8.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    Flag(&'static str),
    Env(String),
    File {
        path: PathBuf,
        key: &'static str,
    },
    Profile {
        path: String,
        profile: String,
    },
    /// Turned on because other settings need it (TLS for an API key or certificates).
    Implied(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File { path, key } => write!(f, "config file {}, key {key}", path.display()),
            Source::Profile { path, profile } => {
                write!(f, "Temporal profile '{profile}' in {path}")
            }
            Source::Implied(why) => write!(f, "implied by {why}"),
        }
    }
}

/// One setting: its file key, flag, and environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
}

macro_rules! keys {
    ($($konst:ident = $name:literal, $flag:literal, $env:literal;)*) => {
        $(pub const $konst: Key = Key { name: $name, flag: $flag, env: $env };)*
        /// Every setting, in the order `config` prints them.
        pub const ALL_KEYS: &[Key] = &[$($konst),*];
    };
}

keys! {
    ADDRESS = "address", "--address", "TEMPORAL_ADDRESS";
    NAMESPACE = "namespace", "--namespace", "TEMPORAL_NAMESPACE";
    API_KEY = "api_key", "--api-key", "TEMPORAL_API_KEY";
    TLS = "tls", "--tls", "TEMPORAL_TLS";
    TLS_CA_PATH = "tls_ca_path", "--tls-ca-path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH";
    TLS_CERT_PATH = "tls_cert_path", "--tls-cert-path", "TEMPORAL_TLS_CLIENT_CERT_PATH";
    TLS_KEY_PATH = "tls_key_path", "--tls-key-path", "TEMPORAL_TLS_CLIENT_KEY_PATH";
    TLS_SERVER_NAME = "tls_server_name", "--tls-server-name", "TEMPORAL_TLS_SERVER_NAME";
    PROFILE = "profile", "--profile", "TEMPORAL_PROFILE";
    MAX_RETRIES = "max_retries", "--max-retries", "TEMPORAL_SUPERVISOR_MAX_RETRIES";
    INITIAL_DELAY = "initial_delay", "--initial-delay", "TEMPORAL_SUPERVISOR_INITIAL_DELAY";
    MAX_DELAY = "max_delay", "--max-delay", "TEMPORAL_SUPERVISOR_MAX_DELAY";
    BACKOFF_FACTOR = "backoff_factor", "--backoff-factor", "TEMPORAL_SUPERVISOR_BACKOFF_FACTOR";
    JITTER = "jitter", "--jitter", "TEMPORAL_SUPERVISOR_JITTER";
    TIMEOUT = "timeout", "--timeout", "TEMPORAL_SUPERVISOR_TIMEOUT";
    ATTEMPT_TIMEOUT = "attempt_timeout", "--attempt-timeout", "TEMPORAL_SUPERVISOR_ATTEMPT_TIMEOUT";
    PORT_WATCH_INTERVAL = "port_watch_interval", "--port-watch-interval",
        "TEMPORAL_SUPERVISOR_PORT_WATCH_INTERVAL";
    STOP_SIGNAL = "stop_signal", "--stop-signal", "TEMPORAL_SUPERVISOR_STOP_SIGNAL";
    STOP_TIMEOUT = "stop_timeout", "--stop-timeout", "TEMPORAL_SUPERVISOR_STOP_TIMEOUT";
    PROBE_INTERVAL = "probe_interval", "--probe-interval", "TEMPORAL_SUPERVISOR_PROBE_INTERVAL";
    PROBE_TIMEOUT = "probe_timeout", "--probe-timeout", "TEMPORAL_SUPERVISOR_PROBE_TIMEOUT";
    FAILURE_THRESHOLD = "failure_threshold", "--failure-threshold",
        "TEMPORAL_SUPERVISOR_FAILURE_THRESHOLD";
    SUCCESS_THRESHOLD = "success_threshold", "--success-threshold",
        "TEMPORAL_SUPERVISOR_SUCCESS_THRESHOLD";
    ON_DISCONNECT = "on_disconnect", "--on-disconnect", "TEMPORAL_SUPERVISOR_ON_DISCONNECT";
    RESTART = "restart", "--restart", "TEMPORAL_SUPERVISOR_RESTART";
    RESTART_DELAY = "restart_delay", "--restart-delay", "TEMPORAL_SUPERVISOR_RESTART_DELAY";
    RESTART_MAX_DELAY = "restart_max_delay", "--restart-max-delay",
        "TEMPORAL_SUPERVISOR_RESTART_MAX_DELAY";
    RESTART_RESET_AFTER = "restart_reset_after", "--restart-reset-after",
        "TEMPORAL_SUPERVISOR_RESTART_RESET_AFTER";
    MAX_RESTARTS = "max_restarts", "--max-restarts", "TEMPORAL_SUPERVISOR_MAX_RESTARTS";
    HEALTH_LISTEN = "health_listen", "--health-listen", "TEMPORAL_SUPERVISOR_HEALTH_LISTEN";
    TASK_QUEUE = "task_queue", "--task-queue", "TEMPORAL_SUPERVISOR_TASK_QUEUE";
    TASK_QUEUE_TYPE = "task_queue_type", "--task-queue-type", "TEMPORAL_SUPERVISOR_TASK_QUEUE_TYPE";
    POLLER_DEADLINE = "poller_deadline", "--poller-deadline", "TEMPORAL_SUPERVISOR_POLLER_DEADLINE";
    WORKER_IDENTITY = "worker_identity", "--worker-identity", "TEMPORAL_SUPERVISOR_WORKER_IDENTITY";
    LOG_FORMAT = "log_format", "--log-format", "TEMPORAL_SUPERVISOR_LOG_FORMAT";
    LOG_LEVEL = "log_level", "--log-level", "TEMPORAL_SUPERVISOR_LOG_LEVEL";
}

/// Settings that take a list: comma-separated in flags and variables, an array in the file.
const LIST_KEYS: &[&str] = &["task_queue"];

/// Names our config file's location; not a key inside the file.
const CONFIG_FLAG: &str = "--config";
const CONFIG_ENV: &str = "TEMPORAL_SUPERVISOR_CONFIG";

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub connection: ConnectionSettings,
    pub wait: WaitSettings,
    pub run: RunSettings,
    pub health: HealthSettings,
    pub log: LogSettings,
    /// Every setting with its shown (redacted) value and source, for `config`.
    pub report: Vec<Setting>,
    /// Things worth saying once logging is up (e.g. an API key sent in clear text).
    pub warnings: Vec<String>,
}

/// One line of the `config` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
}

/// How to reach Temporal and what "ready" requires.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub namespace: String,
    /// Secret: never logged or printed.
    pub api_key: Option<String>,
    /// `Some` when TLS is on.
    pub tls: Option<TlsSettings>,
    /// Extra gRPC metadata from Temporal's profile or `TEMPORAL_GRPC_META_*`.
    pub headers: HashMap<String, String>,
}

/// TLS material, already read and checked to parse.
#[derive(Clone, Default)]
pub struct TlsSettings {
    pub ca_cert: Option<Vec<u8>>,
    pub client_cert: Option<Vec<u8>>,
    /// Secret: never logged or printed.
    pub client_key: Option<Vec<u8>>,
    pub server_name: Option<String>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client_cert", &self.client_cert.is_some())
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| "<redacted>"),
            )
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ConnectionSettings {
    /// `host:port` as people write it.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Options for the Temporal client. The connection is made for probing: no DNS
    /// load-balancing task, and TCP connect bounded by `connect_timeout`.
    pub fn connection_options(&self, connect_timeout: Duration) -> ConnectionOptions {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let target = Url::parse(&format!("{scheme}://{}", self.address()))
            .expect("host and port were validated");
        let tls_options = self.tls.as_ref().map(|tls| {
            let client = match (&tls.client_cert, &tls.client_key) {
                (Some(cert), Some(key)) => Some(
                    ClientTlsOptions::builder()
                        .client_cert(cert.clone())
                        .client_private_key(key.clone())
                        .build(),
                ),
                _ => None,
            };
            TlsOptions::builder()
                .maybe_server_root_ca_cert(tls.ca_cert.clone())
                .maybe_domain(tls.server_name.clone())
                .maybe_client_tls_options(client)
                .build()
        });
        ConnectionOptions::new(target)
            .identity(format!("temporal-supervisor@{}", std::process::id()))
            .maybe_api_key(self.api_key.clone())
            .maybe_tls_options(tls_options)
            .maybe_headers((!self.headers.is_empty()).then(|| self.headers.clone()))
            .connect_timeout(connect_timeout)
            .dns_load_balancing(None)
            .build()
    }
}

/// How `wait` and `exec` retry.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSettings {
    /// Most attempts; 0 means no limit.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// Give up after this long in all; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Bound on one whole attempt (DNS, TCP, TLS, RPCs).
    pub attempt_timeout: Duration,
    /// While the port refuses connections, how often to look again between attempts.
    pub port_watch_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The level for this program; `None` leaves the choice to `RUST_LOG` (default `info`).
    pub level: Option<tracing::Level>,
}

/// Our own TOML file, parsed.
struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

/// Resolves settings through the layers, recording each for the report.
struct Resolver<'a> {
    flags: HashMap<&'static str, String>,
    env: &'a Env,
    file: Option<ConfigFile>,
    report: Vec<Setting>,
}

impl Resolver<'_> {
    /// The raw text of a setting from flag, environment or our file, with its source.
    fn raw(&self, key: &Key) -> Result<Option<(String, Source)>, ConfigError> {
        if let Some(value) = self.flags.get(key.name) {
            return Ok(Some((value.clone(), Source::Flag(key.flag))));
        }
        if let Some(value) = self.env.get(key.env).filter(|v| !v.is_empty()) {
            return Ok(Some((value.clone(), Source::Env(key.env.to_string()))));
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let Some(value) = file.table.get(key.name) else {
            return Ok(None);
        };
        let source = Source::File {
            path: file.path.clone(),
            key: key.name,
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if LIST_KEYS.contains(&key.name) => {
                let mut names = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(name) => names.push(name.to_string()),
                        None => {
                            return Err(ConfigError(format!(
                                "{source}: expected a list of strings, found an item of type {}",
                                item.type_str()
                            )));
                        }
                    }
                }
                names.join(",")
            }
            other => {
                return Err(ConfigError(format!(
                    "{source}: expected a single value, found a {}",
                    other.type_str()
                )));
            }
        };
        Ok(Some((text, source)))
    }

    /// Resolves a setting with a parser, falling back to `default`.
    fn get<T>(
        &mut self,
        key: &Key,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<T, ConfigError> {
        let (value, source) = match self.raw(key)? {
            Some((text, source)) => (
                parse(&text).map_err(|e| invalid(&source, &text, &e))?,
                source,
            ),
            None => (default, Source::Default),
        };
        self.record(key.name, show(&value), source);
        Ok(value)
    }

    fn record(&mut self, name: &'static str, value: String, source: Source) {
        self.report.push(Setting {
            name,
            value,
            source,
        });
    }
}

fn invalid(source: &Source, text: &str, reason: &str) -> ConfigError {
    ConfigError(format!("{source}: invalid value '{text}': {reason}"))
}

/// Resolves the whole configuration from parsed options and an environment.
pub fn resolve(options: &Options, env: &Env) -> Result<Config, ConfigError> {
    let file = load_config_file(options, env)?;
    let mut resolver = Resolver {
        flags: flag_values(options),
        env,
        file,
        report: Vec::new(),
    };
    let mut warnings = Vec::new();
    let connection = resolve_connection(&mut resolver, env, &mut warnings)?;
    let wait = resolve_wait(&mut resolver)?;
    let run = resolve_run(&mut resolver, &wait)?;
    let health = resolve_health(&mut resolver)?;
    let log = resolve_log(&mut resolver, env)?;
    Ok(Config {
        connection,
        wait,
        run,
        health,
        log,
        report: resolver.report,
        warnings,
    })
}

fn flag_values(o: &Options) -> HashMap<&'static str, String> {
    let pairs = [
        (ADDRESS, &o.address),
        (NAMESPACE, &o.namespace),
        (API_KEY, &o.api_key),
        (TLS, &o.tls),
        (TLS_CA_PATH, &o.tls_ca_path),
        (TLS_CERT_PATH, &o.tls_cert_path),
        (TLS_KEY_PATH, &o.tls_key_path),
        (TLS_SERVER_NAME, &o.tls_server_name),
        (PROFILE, &o.profile),
        (MAX_RETRIES, &o.max_retries),
        (INITIAL_DELAY, &o.initial_delay),
        (MAX_DELAY, &o.max_delay),
        (BACKOFF_FACTOR, &o.backoff_factor),
        (JITTER, &o.jitter),
        (TIMEOUT, &o.timeout),
        (ATTEMPT_TIMEOUT, &o.attempt_timeout),
        (PORT_WATCH_INTERVAL, &o.port_watch_interval),
        (STOP_SIGNAL, &o.stop_signal),
        (STOP_TIMEOUT, &o.stop_timeout),
        (PROBE_INTERVAL, &o.probe_interval),
        (PROBE_TIMEOUT, &o.probe_timeout),
        (FAILURE_THRESHOLD, &o.failure_threshold),
        (SUCCESS_THRESHOLD, &o.success_threshold),
        (ON_DISCONNECT, &o.on_disconnect),
        (RESTART, &o.restart),
        (RESTART_DELAY, &o.restart_delay),
        (RESTART_MAX_DELAY, &o.restart_max_delay),
        (RESTART_RESET_AFTER, &o.restart_reset_after),
        (MAX_RESTARTS, &o.max_restarts),
        (HEALTH_LISTEN, &o.health_listen),
        (TASK_QUEUE_TYPE, &o.task_queue_type),
        (POLLER_DEADLINE, &o.poller_deadline),
        (WORKER_IDENTITY, &o.worker_identity),
        (LOG_FORMAT, &o.log_format),
        (LOG_LEVEL, &o.log_level),
    ];
    let mut flags: HashMap<&'static str, String> = pairs
        .into_iter()
        .filter_map(|(key, value)| Some((key.name, value.clone()?)))
        .collect();
    if !o.task_queue.is_empty() {
        flags.insert(TASK_QUEUE.name, o.task_queue.join(","));
    }
    flags
}

fn load_config_file(options: &Options, env: &Env) -> Result<Option<ConfigFile>, ConfigError> {
    let (path, source) = match (
        &options.config,
        env.get(CONFIG_ENV).filter(|v| !v.is_empty()),
    ) {
        (Some(path), _) => (path.clone(), Source::Flag(CONFIG_FLAG)),
        (None, Some(path)) => (PathBuf::from(path), Source::Env(CONFIG_ENV.into())),
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError(format!(
            "config file {} (from {source}): {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let table = parse_config_text(&text)
        .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
    Ok(Some(ConfigFile { path, table }))
}

/// Parses our TOML file and rejects keys we do not know.
fn parse_config_text(text: &str) -> Result<toml::Table, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {message}")
            }
            None => message,
        }
    })?;
    if let Some(unknown) = table
        .keys()
        .find(|k| !ALL_KEYS.iter().any(|key| key.name == k.as_str()))
    {
        return Err(format!("unknown key '{unknown}'"));
    }
    Ok(table)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

// --- connection -------------------------------------------------------------------------------

/// Temporal's profile file through the client's envconfig loader, without its environment
/// overrides (those are one layer up, in ours).
struct ProfileLayer {
    profile: ClientConfigProfile,
    source: Source,
}

fn load_profile_layer(resolver: &mut Resolver<'_>, env: &Env) -> Result<ProfileLayer, ConfigError> {
    let chosen = resolver.raw(&PROFILE)?;
    let file_path = env
        .get("TEMPORAL_CONFIG_FILE")
        .filter(|p| !p.is_empty())
        .cloned()
        .or_else(default_profile_path)
        .unwrap_or_else(|| "temporal.toml".into());
    let (name, name_source) = match &chosen {
        Some((name, source)) => (name.clone(), source.clone()),
        None => ("default".to_string(), Source::Default),
    };
    resolver.record(PROFILE.name, name.clone(), name_source.clone());
    let options = LoadClientConfigProfileOptions::builder()
        // Naming the default profile is the same as naming none: no error when it is absent.
        .maybe_config_file_profile(
            chosen
                .as_ref()
                .map(|(name, _)| name.clone())
                .filter(|name| name != "default"),
        )
        .disable_env(true)
        .build();
    let profile = load_client_config_profile(options, Some(env)).map_err(|e| {
        use temporalio_client::envconfig::ConfigError as E;
        match e {
            E::ProfileNotFound(name) => ConfigError(format!(
                "Temporal profile '{name}' (from {name_source}) not found in {file_path}"
            )),
            other => ConfigError(format!("Temporal profile file {file_path}: {other}")),
        }
    })?;
    Ok(ProfileLayer {
        profile,
        source: Source::Profile {
            path: file_path,
            profile: name,
        },
    })
}

fn default_profile_path() -> Option<String> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(
        base.join("temporalio")
            .join("temporal.toml")
            .to_string_lossy()
            .into_owned(),
    )
}

/// A PEM input: a path, or inline data from `*_DATA` variables or the profile file.
struct PemInput {
    data: Vec<u8>,
    shown: String,
    source: Source,
}

fn resolve_connection(
    r: &mut Resolver<'_>,
    env: &Env,
    warnings: &mut Vec<String>,
) -> Result<ConnectionSettings, ConfigError> {
    let profile = load_profile_layer(r, env)?;
    let p = &profile.profile;
    let p_tls = p.tls.clone().unwrap_or_default();

    let (address_text, address_source) = layered(r, &ADDRESS, p.address.clone(), &profile.source)?
        .unwrap_or_else(|| ("localhost:7233".into(), Source::Default));
    let (scheme_tls, host, port) =
        parse_address(&address_text).map_err(|e| invalid(&address_source, &address_text, &e))?;
    r.record(ADDRESS.name, address_text.clone(), address_source.clone());

    let (namespace, ns_source) = layered(r, &NAMESPACE, p.namespace.clone(), &profile.source)?
        .unwrap_or_else(|| ("default".into(), Source::Default));
    r.record(NAMESPACE.name, namespace.clone(), ns_source);

    let api_key = layered(r, &API_KEY, p.api_key.clone(), &profile.source)?;
    match &api_key {
        Some((_, source)) => r.record(API_KEY.name, "<redacted>".into(), source.clone()),
        None => r.record(API_KEY.name, "(none)".into(), Source::Default),
    }

    let explicit_tls = match r.raw(&TLS)? {
        Some((text, source)) => Some((
            parse_bool(&text).map_err(|e| invalid(&source, &text, &e))?,
            source,
        )),
        None => p
            .tls
            .as_ref()
            .map(|t| (t.disabled != Some(true), profile.source.clone())),
    };
    if let Some(t) = &p.tls
        && t.disable_host_verification
    {
        return Err(ConfigError(format!(
            "{}: disabling TLS host verification is not supported",
            profile.source
        )));
    }
    if env
        .get("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION")
        .and_then(|v| parse_bool(v).ok())
        == Some(true)
    {
        return Err(ConfigError(
            "environment variable TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: disabling TLS host \
             verification is not supported"
                .into(),
        ));
    }

    let ca = pem_input(
        r,
        env,
        &TLS_CA_PATH,
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
        &p_tls.server_ca_cert,
        &profile.source,
    )?;
    let cert = pem_input(
        r,
        env,
        &TLS_CERT_PATH,
        "TEMPORAL_TLS_CLIENT_CERT_DATA",
        &p_tls.client_cert,
        &profile.source,
    )?;
    let key = pem_input(
        r,
        env,
        &TLS_KEY_PATH,
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
        &p_tls.client_key,
        &profile.source,
    )?;
    let server_name = layered(
        r,
        &TLS_SERVER_NAME,
        p_tls.server_name.clone(),
        &profile.source,
    )?;

    for (input, key_name) in [
        (&ca, TLS_CA_PATH.name),
        (&cert, TLS_CERT_PATH.name),
        (&key, TLS_KEY_PATH.name),
    ] {
        let (shown, source) = match input {
            Some(i) => (i.shown.clone(), i.source.clone()),
            None => ("(none)".into(), Source::Default),
        };
        r.record(key_name, shown, source);
    }
    match &server_name {
        Some((name, source)) => r.record(TLS_SERVER_NAME.name, name.clone(), source.clone()),
        None => r.record(TLS_SERVER_NAME.name, "(none)".into(), Source::Default),
    }

    if let Some(ca) = &ca {
        check_certificates(ca, "TLS CA certificate")?;
    }
    match (&cert, &key) {
        (Some(cert), Some(key)) => {
            check_certificates(cert, "TLS client certificate")?;
            check_private_key(key)?;
        }
        (Some(only), None) => {
            return Err(ConfigError(format!(
                "{}: a client certificate needs a client key too (--tls-key-path)",
                only.source
            )));
        }
        (None, Some(only)) => {
            return Err(ConfigError(format!(
                "{}: a client key needs a client certificate too (--tls-cert-path)",
                only.source
            )));
        }
        (None, None) => {}
    }

    let implied_by = if scheme_tls {
        Some("an https:// address".to_string())
    } else if let Some((_, source)) = &api_key {
        Some(format!("the API key ({source})"))
    } else {
        [&ca, &cert]
            .into_iter()
            .flatten()
            .next()
            .map(|i| format!("TLS settings ({})", i.source))
            .or_else(|| {
                server_name
                    .as_ref()
                    .map(|(_, s)| format!("TLS settings ({s})"))
            })
    };
    let (tls_on, tls_source) = match explicit_tls {
        Some((on, source)) => (on, source),
        None => match implied_by {
            Some(why) => (true, Source::Implied(why)),
            None => (false, Source::Default),
        },
    };
    r.record(TLS.name, tls_on.to_string(), tls_source.clone());
    if scheme_tls && !tls_on {
        return Err(ConfigError(format!(
            "{address_source}: address '{address_text}' asks for https but TLS is off ({tls_source})"
        )));
    }
    if !tls_on && let Some((_, source)) = &api_key {
        warnings.push(format!(
            "the API key ({source}) will be sent in clear text: TLS is off ({tls_source})"
        ));
    }

    let tls = tls_on.then(|| TlsSettings {
        ca_cert: ca.map(|i| i.data),
        client_cert: cert.map(|i| i.data),
        client_key: key.map(|i| i.data),
        server_name: server_name.map(|(name, _)| name),
    });

    let mut headers = p.grpc_meta.clone();
    let env_meta = load_client_config_profile(
        LoadClientConfigProfileOptions::builder()
            .disable_file(true)
            .build(),
        Some(env),
    )
    .map_err(|e| ConfigError(format!("environment: {e}")))?;
    headers.extend(env_meta.grpc_meta);

    Ok(ConnectionSettings {
        host,
        port,
        namespace,
        api_key: api_key.map(|(key, _)| key),
        tls,
        headers,
    })
}

/// A string setting from flag, environment or our file, else Temporal's profile.
fn layered(
    r: &Resolver<'_>,
    key: &Key,
    from_profile: Option<String>,
    profile_source: &Source,
) -> Result<Option<(String, Source)>, ConfigError> {
    Ok(r.raw(key)?
        .or_else(|| from_profile.map(|v| (v, profile_source.clone()))))
}

fn pem_input(
    r: &Resolver<'_>,
    env: &Env,
    key: &Key,
    data_var: &'static str,
    from_profile: &Option<DataSource>,
    profile_source: &Source,
) -> Result<Option<PemInput>, ConfigError> {
    let from_path = |path: &str, source: Source| -> Result<PemInput, ConfigError> {
        let data = std::fs::read(path).map_err(|e| {
            ConfigError(format!("{source}: cannot read '{path}': {}", io_reason(&e)))
        })?;
        Ok(PemInput {
            data,
            shown: path.to_string(),
            source,
        })
    };
    if let Some((path, source)) = r.raw(key)? {
        return from_path(&path, source).map(Some);
    }
    if let Some(data) = env.get(data_var).filter(|v| !v.is_empty()) {
        return Ok(Some(PemInput {
            data: data.clone().into_bytes(),
            shown: "<inline PEM>".into(),
            source: Source::Env(data_var.into()),
        }));
    }
    match from_profile {
        Some(DataSource::Path(path)) => from_path(path, profile_source.clone()).map(Some),
        Some(DataSource::Data(data)) => Ok(Some(PemInput {
            data: data.clone(),
            shown: "<inline PEM>".into(),
            source: profile_source.clone(),
        })),
        Some(_) | None => Ok(None),
    }
}

fn check_certificates(input: &PemInput, what: &str) -> Result<(), ConfigError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&input.data) {
        if cert.is_err() {
            return Err(ConfigError(format!(
                "{} ({}): {what} is not valid PEM",
                input.shown, input.source
            )));
        }
        count += 1;
    }
    if count == 0 {
        return Err(ConfigError(format!(
            "{} ({}): no PEM certificate found in the {what}",
            input.shown, input.source
        )));
    }
    Ok(())
}

fn check_private_key(input: &PemInput) -> Result<(), ConfigError> {
    // The parser's error is not shown: it could quote part of the key.
    PrivateKeyDer::from_pem_slice(&input.data)
        .map(|_| ())
        .map_err(|_| {
            ConfigError(format!(
                "{} ({}): no PEM private key found in the TLS client key",
                input.shown, input.source
            ))
        })
}

/// Parses `host:port`, `[v6]:port`, or a URL with an `http` or `https` scheme.
/// Returns whether the scheme asks for TLS, the host, and the port.
pub fn parse_address(text: &str) -> Result<(bool, String, u16), String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a host:port address ({e})"))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("unsupported scheme '{other}' (use host:port)")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the address are not supported".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("expected host:port with no path".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("missing host".into()),
    };
    let port = match url.port() {
        Some(port) => port,
        None => {
            let default = if tls { 443 } else { 80 };
            if text.trim_end_matches('/').ends_with(&format!(":{default}")) {
                default
            } else {
                return Err("missing port (expected host:port, e.g. localhost:7233)".into());
            }
        }
    };
    if port == 0 {
        return Err("port 0 is not a valid server port".into());
    }
    Ok((tls, host, port))
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

// --- waiting ----------------------------------------------------------------------------------

fn resolve_wait(r: &mut Resolver<'_>) -> Result<WaitSettings, ConfigError> {
    let show_duration = |d: &Duration| duration::format(*d);
    let max_retries = r.get(&MAX_RETRIES, 10, parse_count, |n| n.to_string())?;
    let initial_delay = r.get(
        &INITIAL_DELAY,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let max_delay = r.get(
        &MAX_DELAY,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let factor = r.get(&BACKOFF_FACTOR, 2.0, parse_factor, |f| format!("{f}"))?;
    let jitter = r.get(&JITTER, 0.2, parse_fraction, |f| format!("{f}"))?;
    let timeout = r.get(
        &TIMEOUT,
        None,
        |t| duration::parse(t).map(|d| (!d.is_zero()).then_some(d)),
        |t| t.map_or("none".into(), duration::format),
    )?;
    let attempt_timeout = r.get(
        &ATTEMPT_TIMEOUT,
        Duration::from_secs(5),
        parse_positive_duration,
        show_duration,
    )?;
    let port_watch_interval = r.get(
        &PORT_WATCH_INTERVAL,
        Duration::from_millis(100),
        parse_positive_duration,
        show_duration,
    )?;
    if max_delay < initial_delay {
        return Err(ConfigError(format!(
            "max_delay {} is shorter than initial_delay {}",
            duration::format(max_delay),
            duration::format(initial_delay)
        )));
    }
    Ok(WaitSettings {
        max_retries,
        backoff: Backoff {
            initial_delay,
            max_delay,
            factor,
            jitter,
        },
        timeout,
        attempt_timeout,
        port_watch_interval,
    })
}

fn parse_count(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number from 0 up".to_string())
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = duration::parse(text)?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

fn parse_factor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && (1.0..=100.0).contains(&f) => Ok(f),
        _ => Err("expected a number from 1 to 100".into()),
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

// --- supervising ------------------------------------------------------------------------------

/// What `run` does when Temporal is lost while the worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisconnect {
    /// Stop the worker, wait for Temporal again, start a new worker.
    Restart,
    /// Stop the worker and exit 69, for the orchestrator to restart the container.
    Exit,
    /// Keep the worker (SDK workers reconnect by themselves); only report.
    Ignore,
}

/// What `run` does when the worker exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

/// How `run` supervises the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub stop_signal: nix::sys::signal::Signal,
    /// Grace period between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub on_disconnect: OnDisconnect,
    pub restart: RestartPolicy,
    /// Delays between restarts of a failing worker (factor and jitter as for waiting).
    pub restart_backoff: Backoff,
    /// A worker that ran this long counts as stable and restart delays start over.
    pub restart_reset_after: Duration,
    /// Most restarts; 0 means no limit.
    pub max_restarts: u32,
}

fn resolve_run(r: &mut Resolver<'_>, wait: &WaitSettings) -> Result<RunSettings, ConfigError> {
    use nix::sys::signal::Signal;
    let show_duration = |d: &Duration| duration::format(*d);
    let stop_signal = r.get(&STOP_SIGNAL, Signal::SIGTERM, parse_signal, |s| {
        s.as_str().to_string()
    })?;
    let stop_timeout = r.get(
        &STOP_TIMEOUT,
        Duration::from_secs(25),
        duration::parse,
        show_duration,
    )?;
    let probe_interval = r.get(
        &PROBE_INTERVAL,
        Duration::from_secs(5),
        parse_positive_duration,
        show_duration,
    )?;
    let probe_timeout = r.get(
        &PROBE_TIMEOUT,
        Duration::from_secs(3),
        parse_positive_duration,
        show_duration,
    )?;
    let failure_threshold = r.get(&FAILURE_THRESHOLD, 3, parse_positive_count, |n| {
        n.to_string()
    })?;
    let success_threshold = r.get(&SUCCESS_THRESHOLD, 1, parse_positive_count, |n| {
        n.to_string()
    })?;
    let on_disconnect = r.get(
        &ON_DISCONNECT,
        OnDisconnect::Restart,
        |t| match t.trim() {
            "restart" => Ok(OnDisconnect::Restart),
            "exit" => Ok(OnDisconnect::Exit),
            "ignore" => Ok(OnDisconnect::Ignore),
            _ => Err("expected restart, exit or ignore".into()),
        },
        |a| format!("{a:?}").to_lowercase(),
    )?;
    let restart = r.get(
        &RESTART,
        RestartPolicy::OnFailure,
        |t| match t.trim() {
            "never" => Ok(RestartPolicy::Never),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "always" => Ok(RestartPolicy::Always),
            _ => Err("expected never, on-failure or always".into()),
        },
        |p| match p {
            RestartPolicy::Never => "never".into(),
            RestartPolicy::OnFailure => "on-failure".into(),
            RestartPolicy::Always => "always".into(),
        },
    )?;
    let restart_delay = r.get(
        &RESTART_DELAY,
        Duration::from_secs(1),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_max_delay = r.get(
        &RESTART_MAX_DELAY,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let restart_reset_after = r.get(
        &RESTART_RESET_AFTER,
        Duration::from_secs(60),
        parse_positive_duration,
        show_duration,
    )?;
    let max_restarts = r.get(&MAX_RESTARTS, 0, parse_count, |n| n.to_string())?;
    if restart_max_delay < restart_delay {
        return Err(ConfigError(format!(
            "restart_max_delay {} is shorter than restart_delay {}",
            duration::format(restart_max_delay),
            duration::format(restart_delay)
        )));
    }
    Ok(RunSettings {
        stop_signal,
        stop_timeout,
        probe_interval,
        probe_timeout,
        failure_threshold,
        success_threshold,
        on_disconnect,
        restart,
        restart_backoff: Backoff {
            initial_delay: restart_delay,
            max_delay: restart_max_delay,
            factor: wait.backoff.factor,
            jitter: wait.backoff.jitter,
        },
        restart_reset_after,
        max_restarts,
    })
}

fn parse_positive_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number from 1 up".into()),
    }
}

/// `SIGTERM`, `TERM` or `15`.
fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal, String> {
    use nix::sys::signal::Signal;
    let t = text.trim().to_ascii_uppercase();
    let signal = match t.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) if t.starts_with("SIG") => t.parse().ok(),
        Err(_) => format!("SIG{t}").parse().ok(),
    };
    match signal {
        Some(Signal::SIGKILL | Signal::SIGSTOP) | None => {
            Err("expected a signal name or number, such as SIGTERM, SIGINT or 15 (not SIGKILL or SIGSTOP)".into())
        }
        Some(signal) => Ok(signal),
    }
}

// --- health and pollers -------------------------------------------------------------------------

/// The health endpoints and the poller check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Where to serve the endpoints; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
    pub pollers: PollerSettings,
}

/// Which of the worker's pollers must be seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerSettings {
    /// Empty: no poller check.
    pub task_queues: Vec<String>,
    pub task_queue_type: QueueType,
    /// A worker not polling this long after its start is restarted.
    pub deadline: Duration,
    /// Identity pattern; `{pid}` and `{hostname}` are replaced, `*` matches anything.
    pub worker_identity: String,
}

/// Which pollers of a task queue count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Any,
    Workflow,
    Activity,
}

fn resolve_health(r: &mut Resolver<'_>) -> Result<HealthSettings, ConfigError> {
    let listen = r.get(
        &HEALTH_LISTEN,
        None,
        |t| parse_listen(t).map(Some),
        |a| a.map_or("(off)".into(), |a| a.to_string()),
    )?;
    let task_queues = r.get(
        &TASK_QUEUE,
        Vec::new(),
        |t| {
            let names: Vec<String> = t.split(',').map(|n| n.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err("expected task queue names separated by commas".into());
            }
            Ok(names)
        },
        |names| {
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(",")
            }
        },
    )?;
    let task_queue_type = r.get(
        &TASK_QUEUE_TYPE,
        QueueType::Any,
        |t| match t.trim() {
            "any" => Ok(QueueType::Any),
            "workflow" => Ok(QueueType::Workflow),
            "activity" => Ok(QueueType::Activity),
            _ => Err("expected any, workflow or activity".into()),
        },
        |q| format!("{q:?}").to_lowercase(),
    )?;
    let deadline = r.get(
        &POLLER_DEADLINE,
        Duration::from_secs(60),
        parse_positive_duration,
        |d| duration::format(*d),
    )?;
    let worker_identity = r.get(
        &WORKER_IDENTITY,
        "{pid}@{hostname}".to_string(),
        |t| {
            if t.trim().is_empty() {
                Err("expected an identity pattern such as {pid}@{hostname}".into())
            } else {
                Ok(t.trim().to_string())
            }
        },
        String::clone,
    )?;
    Ok(HealthSettings {
        listen,
        pollers: PollerSettings {
            task_queues,
            task_queue_type,
            deadline,
            worker_identity,
        },
    })
}

/// `0.0.0.0:8080`, `[::]:8080`, `127.0.0.1:8080`, or `:8080` for every IPv4 interface.
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    let t = text.trim();
    let full = match t.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => t.to_string(),
    };
    full.parse()
        .map_err(|_| "expected an IP address and port such as 0.0.0.0:8080 or :8080".into())
}

// --- logging ----------------------------------------------------------------------------------

fn resolve_log(r: &mut Resolver<'_>, env: &Env) -> Result<LogSettings, ConfigError> {
    let format = r.get(
        &LOG_FORMAT,
        LogFormat::Text,
        |t| match t.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        },
        |f| format!("{f:?}").to_lowercase(),
    )?;
    let rust_log = env.get("RUST_LOG").filter(|v| !v.is_empty());
    let level = match r.raw(&LOG_LEVEL)? {
        Some((text, source)) => {
            let level = text.trim().parse::<tracing::Level>().map_err(|_| {
                invalid(&source, &text, "expected error, warn, info, debug or trace")
            })?;
            r.record(LOG_LEVEL.name, level.to_string().to_lowercase(), source);
            Some(level)
        }
        None => {
            match rust_log {
                Some(filter) => r.record(
                    LOG_LEVEL.name,
                    filter.clone(),
                    Source::Env("RUST_LOG".into()),
                ),
                None => r.record(LOG_LEVEL.name, "info".into(), Source::Default),
            }
            None
        }
    };
    Ok(LogSettings { format, level })
}

/// Renders the `config` report: one aligned line per setting.
pub fn render_report(report: &[Setting]) -> String {
    let name_width = report.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let value_width = report
        .iter()
        .map(|s| s.value.len())
        .max()
        .unwrap_or(0)
        .min(40);
    report
        .iter()
        .map(|s| {
            format!(
                "{:name_width$} = {:value_width$}  ({})\n",
                s.name, s.value, s.source
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut env: Env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Keep the developer's own Temporal profile out of the tests.
        env.entry("TEMPORAL_CONFIG_FILE".into())
            .or_insert_with(|| "/nonexistent/temporal.toml".into());
        env
    }

    fn source_of(config: &Config, name: &str) -> Source {
        config
            .report
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} not in report"))
            .source
            .clone()
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ts-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults() {
        let c = resolve(&Options::default(), &env(&[])).unwrap();
        assert_eq!(c.connection.address(), "localhost:7233");
        assert_eq!(c.connection.namespace, "default");
        assert!(c.connection.tls.is_none());
        assert_eq!(c.wait.max_retries, 10);
        assert_eq!(c.wait.backoff.initial_delay, Duration::from_secs(1));
        assert_eq!(c.wait.backoff.max_delay, Duration::from_secs(60));
        assert_eq!(c.wait.backoff.factor, 2.0);
        assert_eq!(c.wait.timeout, None);
        assert_eq!(c.wait.attempt_timeout, Duration::from_secs(5));
        assert!(
            c.report
                .iter()
                .all(|s| s.source == Source::Default || s.name == "profile")
        );
    }

    #[test]
    fn flag_beats_env_beats_file_beats_profile_beats_default() {
        let profile = temp_file(
            "layers-profile.toml",
            "[profile.default]\naddress = \"profile-host:1\"\nnamespace = \"from-profile\"\n",
        );
        let ours = temp_file(
            "layers-ours.toml",
            "address = \"file-host:2\"\nmax_retries = 3\ninitial_delay = \"250ms\"\n",
        );
        let profile_path = profile.to_str().unwrap();
        let ours_path = ours.to_str().unwrap();

        let layers = [
            (None, None, None, "profile-host:1"),
            (None, None, Some(ours_path), "file-host:2"),
            (None, Some("env-host:3"), Some(ours_path), "env-host:3"),
            (
                Some("flag-host:4"),
                Some("env-host:3"),
                Some(ours_path),
                "flag-host:4",
            ),
        ];
        for (flag, env_value, file, expected) in layers {
            let mut pairs = vec![("TEMPORAL_CONFIG_FILE", profile_path)];
            if let Some(v) = env_value {
                pairs.push(("TEMPORAL_ADDRESS", v));
            }
            if let Some(f) = file {
                pairs.push(("TEMPORAL_SUPERVISOR_CONFIG", f));
            }
            let options = Options {
                address: flag.map(String::from),
                ..Options::default()
            };
            let c = resolve(&options, &env(&pairs)).unwrap();
            assert_eq!(c.connection.address(), expected);
            // The namespace only ever comes from the profile here.
            assert_eq!(c.connection.namespace, "from-profile");
        }

        let c = resolve(
            &Options {
                max_retries: Some("7".into()),
                ..Options::default()
            },
            &env(&[
                ("TEMPORAL_SUPERVISOR_CONFIG", ours_path),
                ("TEMPORAL_SUPERVISOR_MAX_RETRIES", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(c.wait.max_retries, 7);
        assert_eq!(source_of(&c, "max_retries"), Source::Flag("--max-retries"));
        assert_eq!(c.wait.backoff.initial_delay, Duration::from_millis(250));
        assert!(matches!(
            source_of(&c, "initial_delay"),
            Source::File { .. }
        ));
        assert_eq!(source_of(&c, "max_delay"), Source::Default);
    }

    #[test]
    fn empty_environment_variables_count_as_unset() {
        let c = resolve(
            &Options::default(),
            &env(&[
                ("TEMPORAL_ADDRESS", ""),
                ("TEMPORAL_SUPERVISOR_MAX_RETRIES", ""),
            ]),
        )
        .unwrap();
        assert_eq!(c.connection.address(), "localhost:7233");
        assert_eq!(c.wait.max_retries, 10);
    }

    #[test]
    fn bad_values_name_value_and_source() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("TEMPORAL_SUPERVISOR_MAX_RETRIES", "ten")],
                "environment variable TEMPORAL_SUPERVISOR_MAX_RETRIES: invalid value 'ten'",
            ),
            (
                &[("TEMPORAL_SUPERVISOR_INITIAL_DELAY", "5x")],
                "TEMPORAL_SUPERVISOR_INITIAL_DELAY: invalid value '5x'",
            ),
            (
                &[("TEMPORAL_SUPERVISOR_INITIAL_DELAY", "0")],
                "must be longer than zero",
            ),
            (&[("TEMPORAL_SUPERVISOR_BACKOFF_FACTOR", "0.5")], "'0.5'"),
            (&[("TEMPORAL_SUPERVISOR_JITTER", "2")], "'2'"),
            (
                &[("TEMPORAL_ADDRESS", "localhost")],
                "TEMPORAL_ADDRESS: invalid value 'localhost': missing port",
            ),
            (&[("TEMPORAL_ADDRESS", "ftp://x:1")], "unsupported scheme"),
            (
                &[("TEMPORAL_TLS", "maybe")],
                "TEMPORAL_TLS: invalid value 'maybe'",
            ),
            (
                &[
                    ("TEMPORAL_SUPERVISOR_MAX_DELAY", "1s"),
                    ("TEMPORAL_SUPERVISOR_INITIAL_DELAY", "2s"),
                ],
                "max_delay 1s is shorter than initial_delay 2s",
            ),
            (&[("TEMPORAL_SUPERVISOR_LOG_FORMAT", "xml")], "'xml'"),
            (
                &[("TEMPORAL_SUPERVISOR_CONFIG", "/nonexistent/ts.toml")],
                "config file /nonexistent/ts.toml (from environment variable TEMPORAL_SUPERVISOR_CONFIG): no such file",
            ),
            (
                &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "/nonexistent/c.pem")],
                "cannot read '/nonexistent/c.pem'",
            ),
            (
                &[("TEMPORAL_PROFILE", "nope")],
                "Temporal profile 'nope' (from environment variable TEMPORAL_PROFILE) not found",
            ),
        ];
        for (pairs, expected) in cases {
            let err = resolve(&Options::default(), &env(pairs)).unwrap_err();
            assert!(
                err.0.contains(expected),
                "{pairs:?}: got {err}, want {expected}"
            );
            assert!(!err.0.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn config_file_errors() {
        let cases = [
            (
                "unknown.toml",
                "max_retriez = 3\n",
                "unknown key 'max_retriez'",
            ),
            ("malformed.toml", "max_retries = 3\naddress = \n", "line 2:"),
            (
                "wrongtype.toml",
                "max_retries = \"ten\"\n",
                "key max_retries: invalid value 'ten'",
            ),
            (
                "table.toml",
                "[address]\nhost = \"x\"\n",
                "expected a single value, found a table",
            ),
            ("float.toml", "max_retries = 1.5\n", "invalid value '1.5'"),
        ];
        for (name, text, expected) in cases {
            let path = temp_file(name, text);
            let err = resolve(
                &Options {
                    config: Some(path.clone()),
                    ..Options::default()
                },
                &env(&[]),
            )
            .unwrap_err();
            assert!(
                err.0.contains(expected),
                "{name}: got {err}, want {expected}"
            );
            assert!(
                err.0.contains(path.to_str().unwrap()),
                "{name}: {err} names the file"
            );
        }
    }

    #[test]
    fn addresses() {
        let ok = [
            ("localhost:7233", (false, "localhost", 7233)),
            ("127.0.0.1:1", (false, "127.0.0.1", 1)),
            ("[::1]:7233", (false, "::1", 7233)),
            ("http://temporal:7233", (false, "temporal", 7233)),
            (
                "https://ns.tmprl.cloud:7233",
                (true, "ns.tmprl.cloud", 7233),
            ),
            ("https://x.example:443", (true, "x.example", 443)),
        ];
        for (text, (tls, host, port)) in ok {
            assert_eq!(
                parse_address(text),
                Ok((tls, host.to_string(), port)),
                "{text}"
            );
        }
        for bad in [
            "localhost",
            "",
            ":7233",
            "host:port",
            "host:99999",
            "http://h:1/path",
            "u:p@h:1",
            "h:0",
        ] {
            assert!(parse_address(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn api_key_implies_tls_and_is_redacted() {
        let c = resolve(
            &Options::default(),
            &env(&[("TEMPORAL_API_KEY", "sekrit-123")]),
        )
        .unwrap();
        assert!(c.connection.tls.is_some());
        assert!(matches!(source_of(&c, "tls"), Source::Implied(_)));
        let report = render_report(&c.report);
        assert!(!report.contains("sekrit-123"), "{report}");
        assert!(report.contains("<redacted>"));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn api_key_without_tls_warns() {
        let c = resolve(
            &Options {
                tls: Some("false".into()),
                ..Options::default()
            },
            &env(&[("TEMPORAL_API_KEY", "sekrit-123")]),
        )
        .unwrap();
        assert!(c.connection.tls.is_none());
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("clear text"));
        assert!(!c.warnings[0].contains("sekrit-123"));
    }

    #[test]
    fn zero_timeout_means_none() {
        let c = resolve(
            &Options {
                timeout: Some("0".into()),
                ..Options::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.wait.timeout, None);
        let c = resolve(
            &Options {
                timeout: Some("1m30s".into()),
                ..Options::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.wait.timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn example_file_documents_every_key_with_its_default() {
        let example = include_str!("../config/temporal-supervisor.toml");
        for key in ALL_KEYS {
            assert!(
                example.contains(&format!("\n# {} = ", key.name)),
                "config/temporal-supervisor.toml does not document {}",
                key.name
            );
        }
        // Uncommented, the documented values must be the defaults (paths and secrets aside).
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.split_once(" = ")
                    .is_some_and(|(k, _)| ALL_KEYS.iter().any(|key| key.name == k))
                    && !l.starts_with("api_key")
                    && !l.starts_with("tls_")
                    && !l.starts_with("health_listen")
                    && !l.starts_with("task_queue =")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let path = temp_file("example.toml", &uncommented);
        let from_file = resolve(
            &Options {
                config: Some(path),
                ..Options::default()
            },
            &env(&[]),
        )
        .unwrap();
        let defaults = resolve(&Options::default(), &env(&[])).unwrap();
        assert_eq!(from_file.wait, defaults.wait);
        assert_eq!(from_file.run, defaults.run);
        assert_eq!(from_file.health, defaults.health);
        assert_eq!(from_file.log.format, defaults.log.format);
        assert_eq!(from_file.log.level, Some(tracing::Level::INFO));
        assert_eq!(
            from_file.connection.address(),
            defaults.connection.address()
        );
        assert_eq!(
            from_file.connection.namespace,
            defaults.connection.namespace
        );
        assert!(
            from_file
                .report
                .iter()
                .any(|s| matches!(s.source, Source::File { .. }))
        );
    }
}
