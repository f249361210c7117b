//! TLS: whether it is on (asked for, or implied by an `https://` address, an API key or TLS
//! material), and its material, read from a path (through the bounded reader) or taken inline
//! (`*_DATA` variables, the profile), checked to parse before anything connects. A private
//! key's parse error is never shown: it could quote the key.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use temporalio_client::envconfig::DataSource;

use crate::config::kinds::{Flag, Kind};
use crate::config::resolver::{Resolver, Source};
use crate::config::table::{Def, TLS, TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH, TLS_SERVER_NAME};
use crate::config::{ConfigError, Env};
use crate::files;

/// TLS material, already read and checked to parse.
#[derive(Clone, Default)]
pub struct TlsSettings {
    pub ca_cert: Option<Pem>,
    pub client_cert: Option<Pem>,
    /// Secret: never logged or printed.
    pub client_key: Option<Pem>,
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

/// PEM bytes, and the file they were read from (`None` when given inline).
#[derive(Clone)]
pub struct Pem {
    pub data: Vec<u8>,
    pub path: Option<PathBuf>,
}

/// A PEM input as given: the data, how the report shows it, and its source.
struct PemInput {
    pem: Pem,
    shown: String,
    source: Source,
}

/// One PEM input: a path (flag, variable, our file), else the inline `*_DATA` variable, else
/// the profile's path or data.
fn input(
    r: &Resolver<'_>,
    env: &Env,
    def: &Def,
    data_var: &'static str,
    from_profile: &Option<DataSource>,
    profile_source: &Source,
) -> Result<Option<PemInput>, ConfigError> {
    let from_path = |path: &str, source: Source| -> Result<PemInput, ConfigError> {
        let data = files::read(Path::new(path), files::PEM_FILE)
            .map_err(|e| ConfigError::at(&source, format!("cannot read '{path}': {e}")))?;
        Ok(PemInput {
            pem: Pem {
                data,
                path: Some(PathBuf::from(path)),
            },
            shown: path.to_string(),
            source,
        })
    };
    let inline = |data: Vec<u8>, source: Source| PemInput {
        pem: Pem { data, path: None },
        shown: "<inline PEM>".into(),
        source,
    };
    if let Some((path, source)) = r.raw(def, None)? {
        return from_path(&path, source).map(Some);
    }
    if let Some(data) = env.get(data_var).filter(|v| !v.is_empty()) {
        return Ok(Some(inline(
            data.clone().into_bytes(),
            Source::Env(data_var.into()),
        )));
    }
    match from_profile {
        Some(DataSource::Path(path)) => from_path(path, profile_source.clone()).map(Some),
        Some(DataSource::Data(data)) => Ok(Some(inline(data.clone(), profile_source.clone()))),
        Some(_) | None => Ok(None),
    }
}

fn check_certificates(input: &PemInput, what: &str) -> Result<(), ConfigError> {
    let at = format!("{} ({})", input.shown, input.source);
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&input.pem.data) {
        if cert.is_err() {
            return Err(ConfigError::at(at, format!("{what} is not valid PEM")));
        }
        count += 1;
    }
    if count == 0 {
        return Err(ConfigError::at(
            at,
            format!("no PEM certificate found in the {what}"),
        ));
    }
    Ok(())
}

fn check_private_key(input: &PemInput) -> Result<(), ConfigError> {
    // The parser's error is not shown: it could quote part of the key.
    PrivateKeyDer::from_pem_slice(&input.pem.data)
        .map(|_| ())
        .map_err(|_| {
            let at = format!("{} ({})", input.shown, input.source);
            ConfigError::at(at, "no PEM private key found in the TLS client key")
        })
}

/// What turns TLS on when nobody said: the address's scheme or the API key, each with its
/// source in words.
pub struct Implied<'a> {
    pub https: Option<&'a Source>,
    pub api_key: Option<&'a Source>,
}

/// TLS and its material: `Some` when TLS is on; the TLS setting's value and source too.
pub fn resolve(
    r: &mut Resolver<'_>,
    env: &Env,
    implied: Implied<'_>,
) -> Result<(Option<TlsSettings>, Source), ConfigError> {
    let (p_tls, profile) = match r.profile() {
        Some(p) => (p.profile.tls.clone().unwrap_or_default(), p.source.clone()),
        None => (Default::default(), Source::Default),
    };
    let refused = "disabling TLS host verification is not supported";
    if p_tls.disable_host_verification {
        return Err(ConfigError::at(profile, refused));
    }
    let variable = "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION";
    if env.get(variable).and_then(|v| Flag::parse(v).ok()) == Some(true) {
        return Err(ConfigError::at(Source::Env(variable.into()), refused));
    }
    let mut pem = |def: &Def, var, from: &Option<DataSource>| {
        let found = input(r, env, def, var, from, &profile)?;
        let (shown, source) = match &found {
            Some(i) => (i.shown.clone(), i.source.clone()),
            None => (format!("({})", def.unset), Source::Default),
        };
        r.record(def.key, shown, source);
        Ok::<_, ConfigError>(found)
    };
    let ca = pem(
        TLS_CA_PATH.def,
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
        &p_tls.server_ca_cert,
    )?;
    let cert = pem(
        TLS_CERT_PATH.def,
        "TEMPORAL_TLS_CLIENT_CERT_DATA",
        &p_tls.client_cert,
    )?;
    let key = pem(
        TLS_KEY_PATH.def,
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
        &p_tls.client_key,
    )?;
    let server_name = r.get_opt(TLS_SERVER_NAME, None)?;
    check(&ca, &cert, &key)?;
    let implied_by = match (implied.https, implied.api_key) {
        (Some(_), _) => Some("an https:// address".to_string()),
        (None, Some(source)) => Some(format!("the API key ({source})")),
        (None, None) => [&ca, &cert]
            .into_iter()
            .flatten()
            .map(|i| &i.source)
            .chain(server_name.as_ref().map(|s| &s.source))
            .next()
            .map(|s| format!("TLS settings ({s})")),
    };
    let (on, tls_source) = match (r.find(TLS, None)?, implied_by) {
        (Some(explicit), _) => (explicit.value, explicit.source),
        (None, Some(why)) => (true, Source::Implied(why)),
        (None, None) => (false, Source::Default),
    };
    r.record(TLS.def.key, on.to_string(), tls_source.clone());
    let tls = on.then(|| TlsSettings {
        ca_cert: ca.map(|i| i.pem),
        client_cert: cert.map(|i| i.pem),
        client_key: key.map(|i| i.pem),
        server_name: server_name.map(|s| s.value),
    });
    Ok((tls, tls_source))
}

/// The material parses, and a client certificate comes with its key.
fn check(
    ca: &Option<PemInput>,
    cert: &Option<PemInput>,
    key: &Option<PemInput>,
) -> Result<(), ConfigError> {
    if let Some(ca) = ca {
        check_certificates(ca, "TLS CA certificate")?;
    }
    match (cert, key) {
        (Some(cert), Some(key)) => {
            check_certificates(cert, "TLS client certificate")?;
            check_private_key(key)
        }
        (Some(only), None) => Err(ConfigError::at(
            &only.source,
            "a client certificate needs a client key too (--tls-key-path)",
        )),
        (None, Some(only)) => Err(ConfigError::at(
            &only.source,
            "a client key needs a client certificate too (--tls-cert-path)",
        )),
        (None, None) => Ok(()),
    }
}
