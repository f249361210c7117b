//! How to reach Temporal: address, namespace, API key, TLS material and gRPC headers, layered
//! over Temporal's own profile file (read by the client's envconfig loader) and checked once
//! here (certificates parse, key and certificate come together, https means TLS).
//!
//! The same connection is handed over to the worker ([`ConnectionSettings::worker_env`]) under
//! Temporal's own environment-configuration names, so a worker that reads them (or its SDK's
//! envconfig loader) uses the server, namespace and credentials the supervisor checked.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use temporalio_client::envconfig::LoadClientConfigProfileOptions;
use temporalio_client::{
    ClientKeepAliveOptions, ClientTlsOptions, ConnectionOptions, TlsOptions, Url,
};
use temporalio_common::envconfig::load_client_config_profile;

use crate::config::keys::*;
use crate::config::layers::{Resolver, Source, invalid};
use crate::config::pem::{self, PemInput};
use crate::config::values::{
    join_address, parse_address, parse_bool, parse_positive_duration, shown_address,
};
use crate::config::{ConfigError, Env, profile};

/// How to reach Temporal and what "ready" requires.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub namespace: String,
    /// Secret: never logged or printed.
    pub api_key: Option<String>,
    /// Where the API key came from, so that a rejection can say what to check.
    pub api_key_from: Option<Source>,
    /// `Some` when TLS is on.
    pub tls: Option<TlsSettings>,
    /// Extra gRPC metadata from Temporal's profile or `TEMPORAL_GRPC_META_*`.
    pub headers: HashMap<String, String>,
    /// HTTP/2 keepalive on probe connections: a dead or frozen server is noticed without a
    /// request (pings are not requests to Temporal).
    pub keepalive: Keepalive,
}

/// HTTP/2 keepalive pings: sent `interval` after the last frame received, the connection
/// closed when one is not answered within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

/// TLS material, already read and checked to parse.
#[derive(Clone, Default)]
pub struct TlsSettings {
    pub ca_cert: Option<Pem>,
    pub client_cert: Option<Pem>,
    /// Secret: never logged or printed.
    pub client_key: Option<Pem>,
    pub server_name: Option<String>,
}

/// PEM bytes, and the file they were read from (`None` when given inline).
#[derive(Clone)]
pub struct Pem {
    pub data: Vec<u8>,
    pub path: Option<PathBuf>,
}

impl From<PemInput> for Pem {
    fn from(input: PemInput) -> Pem {
        Pem {
            data: input.data,
            path: input.path,
        }
    }
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

/// One variable of the worker's environment: set to a value, or removed.
pub type EnvChange = (String, Option<String>);

impl ConnectionSettings {
    /// `host:port` as people write it.
    pub fn address(&self) -> String {
        join_address(&self.host, self.port)
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
                        .client_cert(cert.data.clone())
                        .client_private_key(key.data.clone())
                        .build(),
                ),
                _ => None,
            };
            TlsOptions::builder()
                .maybe_server_root_ca_cert(tls.ca_cert.as_ref().map(|c| c.data.clone()))
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
            .keep_alive(Some(
                ClientKeepAliveOptions::builder()
                    .interval(self.keepalive.interval)
                    .timeout(self.keepalive.timeout)
                    .build(),
            ))
            .dns_load_balancing(None)
            .build()
    }

    /// The worker's environment for this connection, under Temporal's envconfig names: what
    /// the supervisor resolved wins over what the environment had, and the other form of each
    /// TLS input (`_PATH` or `_DATA`) is removed, so the two can never disagree. Paths are made
    /// absolute: the worker may run in another directory.
    pub fn worker_env(&self) -> Vec<EnvChange> {
        let mut env: Vec<EnvChange> = vec![
            ("TEMPORAL_ADDRESS".into(), Some(self.address())),
            ("TEMPORAL_NAMESPACE".into(), Some(self.namespace.clone())),
            ("TEMPORAL_API_KEY".into(), self.api_key.clone()),
            ("TEMPORAL_TLS".into(), Some(self.tls.is_some().to_string())),
        ];
        let tls = self.tls.clone().unwrap_or_default();
        for (pem, variable) in [
            (&tls.ca_cert, "TEMPORAL_TLS_SERVER_CA_CERT"),
            (&tls.client_cert, "TEMPORAL_TLS_CLIENT_CERT"),
            (&tls.client_key, "TEMPORAL_TLS_CLIENT_KEY"),
        ] {
            let (path, data) = match pem {
                Some(Pem {
                    path: Some(path), ..
                }) => (Some(absolute(path)), None),
                Some(Pem { data, path: None }) => {
                    (None, Some(String::from_utf8_lossy(data).into_owned()))
                }
                None => (None, None),
            };
            env.push((format!("{variable}_PATH"), path));
            env.push((format!("{variable}_DATA"), data));
        }
        env.push(("TEMPORAL_TLS_SERVER_NAME".into(), tls.server_name));
        let mut headers: Vec<_> = self.headers.iter().collect();
        headers.sort();
        for (name, value) in headers {
            let variable = format!(
                "TEMPORAL_GRPC_META_{}",
                name.to_ascii_uppercase().replace('-', "_")
            );
            env.push((variable, Some(value.clone())));
        }
        env
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

pub fn resolve(
    r: &mut Resolver<'_>,
    env: &Env,
    profile_file: Option<&profile::ProfileFile>,
    warnings: &mut Vec<String>,
) -> Result<ConnectionSettings, ConfigError> {
    let profile = profile::load(r, profile_file)?;
    let p = &profile.profile;
    let p_tls = p.tls.clone().unwrap_or_default();

    let (address_text, address_source) = layered(r, &ADDRESS, p.address.clone(), &profile.source)?
        .unwrap_or_else(|| ("localhost:7233".into(), Source::Default));
    let (scheme_tls, host, port) = parse_address(&address_text)
        .map_err(|e| invalid(&address_source, &shown_address(&address_text), &e))?;
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

    let ca = pem::input(
        r,
        env,
        &TLS_CA_PATH,
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
        &p_tls.server_ca_cert,
        &profile.source,
    )?;
    let cert = pem::input(
        r,
        env,
        &TLS_CERT_PATH,
        "TEMPORAL_TLS_CLIENT_CERT_DATA",
        &p_tls.client_cert,
        &profile.source,
    )?;
    let key = pem::input(
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
        pem::check_certificates(ca, "TLS CA certificate")?;
    }
    match (&cert, &key) {
        (Some(cert), Some(key)) => {
            pem::check_certificates(cert, "TLS client certificate")?;
            pem::check_private_key(key)?;
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
        ca_cert: ca.map(Pem::from),
        client_cert: cert.map(Pem::from),
        client_key: key.map(Pem::from),
        server_name: server_name.map(|(name, _)| name),
    });

    let mut headers = p.grpc_meta.clone();
    let env_meta = load_client_config_profile(
        LoadClientConfigProfileOptions::builder()
            .disable_file(true)
            .build(),
        Some(env.vars()),
    )
    .map_err(|e| ConfigError(format!("environment: {e}")))?;
    headers.extend(env_meta.grpc_meta);

    let show_duration = |d: &Duration| crate::duration::format(*d);
    let keepalive = Keepalive {
        interval: r.get(
            &KEEPALIVE_INTERVAL,
            Duration::from_secs(12),
            parse_positive_duration,
            show_duration,
        )?,
        timeout: r.get(
            &KEEPALIVE_TIMEOUT,
            Duration::from_secs(3),
            parse_positive_duration,
            show_duration,
        )?,
    };
    if keepalive.interval < Duration::from_secs(10) {
        warnings.push(format!(
            "keepalive_interval {} is under 10 s: Temporal's frontend closes connections that \
             ping more often (frontend.keepAliveMinTime)",
            show_duration(&keepalive.interval)
        ));
    }

    Ok(ConnectionSettings {
        host,
        port,
        namespace,
        api_key_from: api_key.as_ref().map(|(_, source)| source.clone()),
        api_key: api_key.map(|(key, _)| key),
        tls,
        headers,
        keepalive,
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
