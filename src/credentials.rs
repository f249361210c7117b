//! Credentials that rotate: the API key file and the TLS files (CA, client certificate, client
//! key) are read again every [`CHECK`], so that a renewed certificate or a rotated key is used
//! without restarting anything. The kubelet swaps a Secret volume's `..data` symlink
//! atomically (the files themselves never change in place there); other writers may not, so a
//! change is taken only once its files read the same twice in a row, parse, and (for a client
//! certificate and key) belong together. A file that is missing, empty or half-written keeps
//! the last good credential, said once per reason. Nothing secret is ever logged.
//!
//! The live credentials go to whoever connects to Temporal: the endpoint's connection and the
//! supervisor's own probes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::connection::api_key_of;
use crate::config::tls::{certificates, key_pair};
use crate::config::{ConnectionSettings, TlsSettings};
use crate::files;
use crate::task::AbortOnDrop;

/// How often the credential files are read again.
pub const CHECK: Duration = Duration::from_secs(2);

/// The part of the connection that rotates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Secret: never logged.
    pub api_key: Option<String>,
    pub tls: Option<TlsSettings>,
    /// Counts the changes taken, from 0.
    pub generation: u64,
}

impl Credentials {
    pub fn of(c: &ConnectionSettings) -> Credentials {
        Credentials {
            api_key: c.api_key.clone(),
            tls: c.tls.clone(),
            generation: 0,
        }
    }

    /// The connection settings with these credentials.
    pub fn apply(&self, c: &ConnectionSettings) -> ConnectionSettings {
        ConnectionSettings {
            api_key: self.api_key.clone(),
            tls: self.tls.clone(),
            ..c.clone()
        }
    }

    /// Whether the TLS material differs (a new connection is needed), not only the key.
    pub fn tls_differs(&self, other: &Credentials) -> bool {
        let pems = |c: &Credentials| {
            c.tls.as_ref().map(|t| {
                [&t.ca_cert, &t.client_cert, &t.client_key]
                    .map(|p| p.as_ref().map(|p| p.data.clone()))
            })
        };
        pems(self) != pems(other)
    }
}

/// The live credentials: the latest good ones.
pub type Live = watch::Receiver<Arc<Credentials>>;

/// The next change of the live credentials (never, without them).
pub async fn changed(live: &mut Option<Live>) -> Result<(), watch::error::RecvError> {
    match live {
        Some(live) => live.changed().await,
        None => std::future::pending().await,
    }
}

/// Reads the credential files again and again; stops when dropped.
pub struct CredentialWatch {
    live: Live,
    _task: Option<AbortOnDrop<()>>,
}

impl CredentialWatch {
    /// Follows the files of `c` (none: the credentials never change).
    pub fn start(c: &ConnectionSettings) -> CredentialWatch {
        let (tx, live) = watch::channel(Arc::new(Credentials::of(c)));
        let files = Files::of(c);
        let task = (!files.is_empty()).then(|| AbortOnDrop::spawn(follow(files, tx)));
        CredentialWatch { live, _task: task }
    }

    pub fn live(&self) -> Live {
        self.live.clone()
    }
}

/// The files credentials come from.
#[derive(Debug, Clone)]
struct Files {
    api_key: Option<PathBuf>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Files {
    fn of(c: &ConnectionSettings) -> Files {
        let tls = c.tls.clone().unwrap_or_default();
        let path =
            |p: &Option<crate::config::connection::Pem>| p.as_ref().and_then(|p| p.path.clone());
        Files {
            api_key: c.api_key_file.clone(),
            ca: path(&tls.ca_cert),
            cert: path(&tls.client_cert),
            key: path(&tls.client_key),
        }
    }

    fn is_empty(&self) -> bool {
        [&self.api_key, &self.ca, &self.cert, &self.key]
            .iter()
            .all(|p| p.is_none())
    }

    /// Reads every file: the bytes of each, in a fixed order, or why not.
    fn read(&self) -> Result<Vec<Option<Vec<u8>>>, String> {
        let one = |path: &Option<PathBuf>, kind: files::Kind, what: &str| {
            path.as_ref()
                .map(|p| {
                    files::read(p, kind).map_err(|e| format!("the {what} '{}': {e}", p.display()))
                })
                .transpose()
        };
        Ok(vec![
            one(&self.api_key, files::API_KEY_FILE, "API key file")?,
            one(&self.ca, files::PEM_FILE, "TLS CA certificate")?,
            one(&self.cert, files::PEM_FILE, "TLS client certificate")?,
            one(&self.key, files::PEM_FILE, "TLS client key")?,
        ])
    }
}

/// The credentials `read` gives, over `current`; or why they are no good.
fn parse(read: &[Option<Vec<u8>>], current: &Credentials) -> Result<Credentials, String> {
    let mut next = current.clone();
    if let Some(data) = &read[0] {
        let key = api_key_of(data).map_err(|e| format!("the API key file: {e}"))?;
        next.api_key = Some(key);
    }
    if let Some(tls) = &mut next.tls {
        let pems = [&mut tls.ca_cert, &mut tls.client_cert, &mut tls.client_key];
        for (pem, data) in pems.into_iter().zip(&read[1..]) {
            if let (Some(pem), Some(data)) = (pem, data) {
                pem.data = data.clone();
            }
        }
        check_tls(tls)?;
    }
    Ok(next)
}

/// The material parses, and a client certificate and key belong together.
fn check_tls(tls: &TlsSettings) -> Result<(), String> {
    if let Some(ca) = &tls.ca_cert {
        certificates(&ca.data, "TLS CA certificate")?;
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        key_pair(
            certificates(&cert.data, "TLS client certificate")?,
            &key.data,
        )?;
    }
    Ok(())
}

async fn follow(files: Files, tx: watch::Sender<Arc<Credentials>>) {
    let mut last_read: Option<Vec<Option<Vec<u8>>>> = None;
    let mut said: Option<String> = None;
    loop {
        tokio::time::sleep(CHECK).await;
        let current = tx.borrow().clone();
        let outcome = files.read().and_then(|read| {
            let next = parse(&read, &current)?;
            Ok((read, next))
        });
        let (read, next) = match outcome {
            Ok(ok) => ok,
            Err(reason) => {
                last_read = None;
                if said.as_ref() != Some(&reason) {
                    warn!("{reason}; keeping the last good credential");
                    said = Some(reason);
                }
                continue;
            }
        };
        said = None;
        // Taken once the files read the same twice in a row (no writer is half-way through).
        let stable = last_read.as_ref() == Some(&read);
        last_read = Some(read);
        let key_changed = next.api_key != current.api_key;
        let tls_changed = next.tls_differs(&current);
        if !stable || !(key_changed || tls_changed) {
            continue;
        }
        let what = match (key_changed, tls_changed) {
            (true, true) => "the API key and the TLS files changed",
            (true, false) => "the API key file changed",
            _ => "the TLS files changed",
        };
        info!("{what}: new requests use the new credential");
        let next = Credentials {
            generation: current.generation + 1,
            ..next
        };
        tx.send_replace(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::connection::Pem;

    fn pem(data: &[u8]) -> Option<Pem> {
        Some(Pem {
            data: data.to_vec(),
            path: None,
        })
    }

    #[test]
    fn a_key_file_replaces_the_key_and_a_bad_one_is_refused() {
        let current = Credentials {
            api_key: Some("old".into()),
            ..Credentials::default()
        };
        let next = parse(&[Some(b"new\n".to_vec()), None, None, None], &current).unwrap();
        assert_eq!(next.api_key.as_deref(), Some("new"));
        let empty = parse(&[Some(b"".to_vec()), None, None, None], &current).unwrap_err();
        assert!(empty.contains("empty"), "{empty}");
    }

    #[test]
    fn tls_material_must_parse_and_belong_together() {
        let one = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let cert = one.cert.pem();
        let key = one.signing_key.serialize_pem();
        let other_key = two.signing_key.serialize_pem();
        let tls = |cert: &str, key: &str| TlsSettings {
            ca_cert: None,
            client_cert: pem(cert.as_bytes()),
            client_key: pem(key.as_bytes()),
            server_name: None,
        };
        assert_eq!(check_tls(&tls(&cert, &key)), Ok(()));
        let mismatch = check_tls(&tls(&cert, &other_key)).unwrap_err();
        assert!(mismatch.contains("do not belong together"), "{mismatch}");
        let half = &cert[..cert.len() / 2];
        let cut = check_tls(&tls(half, &key)).unwrap_err();
        assert!(cut.contains("no whole PEM certificate"), "{cut}");
        let cut_key = check_tls(&tls(&cert, &key[..key.len() / 2])).unwrap_err();
        assert!(
            !cut_key.contains("PRIVATE"),
            "the key is never quoted: {cut_key}"
        );
    }
}
