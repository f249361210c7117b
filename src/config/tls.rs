//! TLS: whether it is on (asked for, or implied by an `https://` address, an API key or TLS
//! material), and its material, read from a path (through the bounded reader) or taken inline
//! (`*_DATA` variables, the profile), checked to parse (and a client certificate to match its
//! key) before anything connects. A private key's parse error is never shown: it could quote
//! the key.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use temporalio_client::envconfig::DataSource;
use tokio_rustls::rustls::crypto::ring::sign::any_supported_type;
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{Error, InconsistentKeys};

use crate::config::kinds::{Flag, Kind};
use crate::config::resolver::{Resolver, Source, Sourced};
use crate::config::table::{Def, TLS, TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH, TLS_SERVER_NAME};
use crate::config::{ConfigError, Env, Result};
use crate::files;

/// TLS material, already read and checked to parse (a client certificate to match its key).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub ca_cert: Option<Pem>,
    pub client_cert: Option<Pem>,
    /// Secret: never logged or printed.
    pub client_key: Option<Pem>,
    pub server_name: Option<String>,
}

/// PEM bytes, and the file they were read from (`None` when given inline). Its `Debug` says
/// where they came from, never the bytes: a key's are secret.
#[derive(Clone)]
pub struct Pem {
    pub data: Vec<u8>,
    pub path: Option<PathBuf>,
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Pem {
    /// How the report and errors name it: its path, or `<inline PEM>`.
    fn shown(&self) -> String {
        let path = self.path.as_ref().map(|p| p.display().to_string());
        path.unwrap_or_else(|| "<inline PEM>".into())
    }
}

/// A PEM input, if given, and where it came from.
type Input = Option<Sourced<Pem>>;

/// One PEM input: a path (flag, variable, our file), else its inline variable (`*_DATA`), else
/// the profile's path or data; read through the bounded reader.
fn input(
    r: &Resolver<'_>,
    env: &Env,
    def: &Def,
    profile: (&Option<DataSource>, &Source),
) -> Result<Input> {
    let inline = env.get(def.inline).filter(|v| !v.is_empty());
    let (given, source) = match (r.raw(def, None), inline, profile) {
        (Some((path, source)), _, _) => (DataSource::Path(path), source),
        (None, Some(data), _) => (
            DataSource::Data(data.clone().into()),
            Source::Env(def.inline.into()),
        ),
        (None, None, (Some(given), source)) => (given.clone(), source.clone()),
        (None, None, (None, _)) => return Ok(None),
    };
    let value = match given {
        DataSource::Path(path) => Pem {
            data: files::read(Path::new(&path), files::PEM_FILE)
                .map_err(|e| ConfigError::at(&source, format!("cannot read '{path}': {e}")))?,
            path: Some(path.into()),
        },
        DataSource::Data(data) => Pem { data, path: None },
        _ => return Ok(None),
    };
    Ok(Some(Sourced { value, source }))
}

/// The material parses, and a client certificate comes with its key and belongs with it.
fn check(ca: &Input, cert: &Input, key: &Input) -> Result<()> {
    let at = |p: &Sourced<Pem>| {
        let at = format!("{} ({})", p.value.shown(), p.source);
        move |problem| ConfigError::at(at, problem)
    };
    if let Some(ca) = ca {
        certificates(&ca.value.data, "TLS CA certificate").map_err(at(ca))?;
    }
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain =
                certificates(&cert.value.data, "TLS client certificate").map_err(at(cert))?;
            key_pair(chain, &key.value.data).map_err(at(key))
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

/// The certificates of a PEM input (the `what`): at least one, each whole.
pub fn certificates(data: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    match CertificateDer::pem_slice_iter(data).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(format!("the {what} holds no whole PEM certificate")),
    }
}

/// A client key that TLS can use, and that belongs with the certificate `chain`. The parser's
/// error is never shown: it could quote part of the key.
pub fn key_pair(chain: Vec<CertificateDer<'static>>, key: &[u8]) -> Result<(), String> {
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|_| "the TLS client key holds no whole PEM private key".to_string())?;
    let signer = any_supported_type(&key)
        .map_err(|_| "the TLS client key is of a kind TLS cannot use".to_string())?;
    match CertifiedKey::new(chain, signer).keys_match() {
        Err(Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err("the TLS client certificate and key do not belong together".into())
        }
        Err(_) => Err("the TLS client certificate is not one TLS can read".into()),
        Ok(()) => Ok(()),
    }
}

/// TLS and its material: `Some` when TLS is on; the TLS setting's value and source too.
/// `implied`: what else turns TLS on when nobody said (the address's scheme or the API key),
/// in words.
pub fn resolve(
    r: &mut Resolver<'_>,
    env: &Env,
    implied: Option<String>,
) -> Result<(Option<TlsSettings>, Source)> {
    let (p_tls, profile) = match r.profile.as_ref() {
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
    let mut pem = |def: &Def, from: &Option<DataSource>| {
        let found = input(r, env, def, (from, &profile))?;
        let (shown, source) = match &found {
            Some(p) => (p.value.shown(), p.source.clone()),
            None => (format!("({})", def.unset), Source::Default),
        };
        r.record(def.key, shown, source);
        Ok::<_, ConfigError>(found)
    };
    let ca = pem(TLS_CA_PATH.def, &p_tls.server_ca_cert)?;
    let cert = pem(TLS_CERT_PATH.def, &p_tls.client_cert)?;
    let key = pem(TLS_KEY_PATH.def, &p_tls.client_key)?;
    let server_name = r.get_opt(TLS_SERVER_NAME, None)?;
    check(&ca, &cert, &key)?;
    let implied_by = implied.or_else(|| {
        let given = [&ca, &cert].into_iter().flatten().map(|i| &i.source);
        let s = given.chain(server_name.iter().map(|s| &s.source)).next()?;
        Some(format!("TLS settings ({s})"))
    });
    let (on, tls_source) = match (r.find(TLS, None)?, implied_by) {
        (Some(explicit), _) => (explicit.value, explicit.source),
        (None, Some(why)) => (true, Source::Implied(why)),
        (None, None) => (false, Source::Default),
    };
    r.record(TLS.def.key, on.to_string(), tls_source.clone());
    let tls = on.then(|| TlsSettings {
        ca_cert: ca.map(|p| p.value),
        client_cert: cert.map(|p| p.value),
        client_key: key.map(|p| p.value),
        server_name: server_name.map(|s| s.value),
    });
    Ok((tls, tls_source))
}
