//! How to reach Temporal: address, namespace, API key, TLS material and gRPC headers, layered
//! over Temporal's own profile file (read by the client's envconfig loader) and checked once
//! here (certificates parse, key and certificate come together, https means TLS).
//! The worker is handed the same connection by [`crate::process::handover`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use temporalio_client::envconfig::LoadClientConfigProfileOptions;
use temporalio_common::envconfig::load_client_config_profile;

use crate::config::address::join_address;
use crate::config::resolver::{Resolver, Source, Sourced};
use crate::config::table::{
    ADDRESS, API_KEY, API_KEY_FILE, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, NAMESPACE, PROFILE,
};
pub use crate::config::tls::{Pem, TlsSettings};
use crate::config::{ConfigError, Env, Result, profile, tls};
use crate::files;

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
    /// The file the API key is read from (and read again when it changes), if any.
    pub api_key_file: Option<PathBuf>,
    /// `Some` when TLS is on.
    pub tls: Option<TlsSettings>,
    /// Extra gRPC metadata from Temporal's profile or `TEMPORAL_GRPC_META_*`.
    pub headers: HashMap<String, String>,
    /// HTTP/2 keepalive on probe connections: a dead or frozen server is noticed without a
    /// request (pings are not requests to Temporal).
    pub keepalive: Keepalive,
}

crate::config::settings::sections! {
    /// HTTP/2 keepalive pings: sent `interval` after the last frame received, the connection
    /// closed when one is not answered within `timeout`.
    Keepalive {
        interval: Duration = value(KEEPALIVE_INTERVAL),
        timeout: Duration = value(KEEPALIVE_TIMEOUT),
    }
}

impl ConnectionSettings {
    /// `host:port` as people write it.
    pub fn address(&self) -> String {
        join_address(&self.host, self.port)
    }
}

/// The API key a file holds: UTF-8 with its trailing line break trimmed, one header value.
pub fn api_key_of(data: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(data).map_err(|_| "it is not UTF-8 text")?;
    let key = text.trim_end_matches(['\n', '\r']);
    if key.is_empty() {
        return Err("it is empty");
    }
    if key.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("it holds more than one word, or control characters");
    }
    Ok(key.to_string())
}

/// The connection: Temporal's profile is read first, the layer under our file.
pub fn resolve(
    r: &mut Resolver<'_>,
    env: &Env,
    profile_file: Option<&profile::ProfileFile>,
    warnings: &mut Vec<String>,
) -> Result<ConnectionSettings> {
    r.profile = Some(profile::load(r.get(PROFILE, None)?, profile_file)?);
    let address = r.get(ADDRESS, None)?;
    let namespace = r.get(NAMESPACE, None)?.value;
    let (api_key, api_key_file) = api_key(r)?;
    let implied = match (address.value.https, &api_key) {
        (true, _) => Some("an https:// address".into()),
        (false, key) => key.as_ref().map(|k| format!("the API key ({})", k.source)),
    };
    let (tls, tls_source) = tls::resolve(r, env, implied)?;
    if address.value.https && tls.is_none() {
        let text = &address.value.text;
        let problem = format!("address '{text}' asks for https but TLS is off ({tls_source})");
        return Err(ConfigError::at(address.source, problem));
    }
    if let (None, Some(key)) = (&tls, &api_key) {
        let from = &key.source;
        warnings.push(format!(
            "the API key ({from}) will be sent in clear text: TLS is off ({tls_source})"
        ));
    }
    // Temporal's own variables' headers over the profile's.
    let options = LoadClientConfigProfileOptions::builder().disable_file(true);
    let env_meta = load_client_config_profile(options.build(), Some(env.vars()))
        .map_err(|e| ConfigError(format!("environment: {e}")))?;
    let profile_meta = r.profile.iter().flat_map(|p| p.profile.grpc_meta.clone());
    let headers = profile_meta.chain(env_meta.grpc_meta).collect();
    let keepalive = Keepalive::resolve(r, None)?;
    if keepalive.interval < Duration::from_secs(10) {
        let interval = crate::duration::format(keepalive.interval);
        warnings.push(format!(
            "keepalive_interval {interval} is under 10 s: Temporal's frontend closes connections \
             that ping more often (frontend.keepAliveMinTime)"
        ));
    }
    Ok(ConnectionSettings {
        host: address.value.host,
        port: address.value.port,
        namespace,
        api_key_file,
        api_key_from: api_key.as_ref().map(|key| key.source.clone()),
        api_key: api_key.map(|key| key.value),
        tls,
        headers,
        keepalive,
    })
}

/// The API key, given (flag, variable, our file, the profile) or read from its file, and
/// the file; not both.
fn api_key(r: &mut Resolver<'_>) -> Result<(Option<Sourced<String>>, Option<PathBuf>)> {
    let Some(file) = r.get_opt(API_KEY_FILE, None)? else {
        return Ok((r.get_opt(API_KEY, None)?, None));
    };
    if let Some((_, given)) = r.raw(API_KEY.def, None) {
        return Err(ConfigError(format!(
            "the API key is given twice: {given} and as a file ({}); give one",
            file.source
        )));
    }
    // Bounded, the trailing newline trimmed, never shown.
    let path = file.value.display();
    let at = |e: &dyn std::fmt::Display| {
        let problem = format!("cannot read the API key from '{path}': {e}");
        ConfigError::at(&file.source, problem)
    };
    let data = files::read(&file.value, files::API_KEY_FILE).map_err(|e| at(&e))?;
    let key = api_key_of(&data).map_err(|e| at(&e))?;
    r.record(API_KEY.def.key, "<redacted>".into(), file.source.clone());
    let key = Sourced {
        value: key,
        source: file.source,
    };
    Ok((Some(key), Some(file.value)))
}
