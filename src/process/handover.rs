//! The worker's environment for the connection: what the supervisor resolved and checked,
//! handed over under Temporal's own environment-configuration names, so a worker that reads
//! them (or its SDK's envconfig loader) uses the same server, namespace and credentials.

use std::path::Path;

use crate::config::ConnectionSettings;
use crate::config::connection::Pem;

/// One variable of the worker's environment: set to a value, or removed.
pub type EnvChange = (String, Option<String>);

/// The worker's environment for `connection`: what the supervisor resolved wins over what the
/// environment had, and the other form of each TLS input (`_PATH` or `_DATA`) is removed, so
/// the two can never disagree. Paths are made absolute: the worker may run in another
/// directory.
pub fn connection_env(connection: &ConnectionSettings) -> Vec<EnvChange> {
    let mut env: Vec<EnvChange> = vec![
        ("TEMPORAL_ADDRESS".into(), Some(connection.address())),
        (
            "TEMPORAL_NAMESPACE".into(),
            Some(connection.namespace.clone()),
        ),
        ("TEMPORAL_API_KEY".into(), connection.api_key.clone()),
        (
            "TEMPORAL_TLS".into(),
            Some(connection.tls.is_some().to_string()),
        ),
    ];
    let tls = connection.tls.clone().unwrap_or_default();
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
