//! The worker's environment for the connection: what the supervisor resolved and checked,
//! handed over under Temporal's own environment-configuration names, so a worker that reads
//! them (or its SDK's envconfig loader) uses the same server, namespace and credentials.

use std::path::Path;

use crate::config::ConnectionSettings;
use crate::config::connection::Pem;
use crate::config::table::{
    ADDRESS, API_KEY, NAMESPACE, TLS, TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH, TLS_SERVER_NAME,
};

/// One variable of the worker's environment: set to a value, or removed.
pub type EnvChange = (String, Option<String>);

/// The worker's environment for `connection`: what the supervisor resolved wins over what the
/// environment had, and the other form of each TLS input (`_PATH` or `_DATA`) is removed, so
/// the two can never disagree. Paths are made absolute: the worker may run in another
/// directory.
pub fn connection_env(connection: &ConnectionSettings) -> Vec<EnvChange> {
    let tls = connection.tls.clone().unwrap_or_default();
    let mut env: Vec<EnvChange> = vec![
        (ADDRESS.def.env.into(), Some(connection.address())),
        (NAMESPACE.def.env.into(), Some(connection.namespace.clone())),
        (API_KEY.def.env.into(), connection.api_key.clone()),
        (
            TLS.def.env.into(),
            Some(connection.tls.is_some().to_string()),
        ),
        (TLS_SERVER_NAME.def.env.into(), tls.server_name),
    ];
    for (pem, def) in [
        (&tls.ca_cert, TLS_CA_PATH.def),
        (&tls.client_cert, TLS_CERT_PATH.def),
        (&tls.client_key, TLS_KEY_PATH.def),
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
        env.push((def.env.into(), path));
        env.push((def.inline.into(), data));
    }
    let mut headers: Vec<_> = connection.headers.iter().collect();
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

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}
