//! PEM material for TLS: read from a path or taken inline (`*_DATA` variables, the profile),
//! and checked to parse before anything connects. A private key's parse error is never shown:
//! it could quote the key.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use temporalio_client::envconfig::DataSource;

use crate::config::keys::Key;
use crate::config::layers::{Resolver, Source};
use crate::config::{ConfigError, Env, files};

/// A PEM input: a path, or inline data from `*_DATA` variables or the profile file.
pub struct PemInput {
    pub data: Vec<u8>,
    /// The file it was read from; `None` for inline data.
    pub path: Option<PathBuf>,
    pub shown: String,
    pub source: Source,
}

pub fn input(
    r: &Resolver<'_>,
    env: &Env,
    key: &Key,
    data_var: &'static str,
    from_profile: &Option<DataSource>,
    profile_source: &Source,
) -> Result<Option<PemInput>, ConfigError> {
    let from_path = |path: &str, source: Source| -> Result<PemInput, ConfigError> {
        let data = files::read(Path::new(path), files::PEM_FILE)
            .map_err(|e| ConfigError(format!("{source}: cannot read '{path}': {e}")))?;
        Ok(PemInput {
            data,
            path: Some(PathBuf::from(path)),
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
            path: None,
            shown: "<inline PEM>".into(),
            source: Source::Env(data_var.into()),
        }));
    }
    match from_profile {
        Some(DataSource::Path(path)) => from_path(path, profile_source.clone()).map(Some),
        Some(DataSource::Data(data)) => Ok(Some(PemInput {
            data: data.clone(),
            path: None,
            shown: "<inline PEM>".into(),
            source: profile_source.clone(),
        })),
        Some(_) | None => Ok(None),
    }
}

pub fn check_certificates(input: &PemInput, what: &str) -> Result<(), ConfigError> {
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

pub fn check_private_key(input: &PemInput) -> Result<(), ConfigError> {
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
