//! How to reach Temporal: address, namespace, API key, TLS material and gRPC headers, layered
//! over Temporal's own profile file (read by the client's envconfig loader) and checked once
//! here (certificates parse, key and certificate come together, https means TLS).

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

use crate::config::file::io_reason;
use crate::config::keys::*;
use crate::config::layers::{Resolver, Source, invalid};
use crate::config::values::parse_bool;
use crate::config::{ConfigError, Env};

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

pub fn resolve(
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
