//! The Temporal client's options for a connection the configuration resolved: the config
//! module gives typed settings ([`ConnectionSettings`]), this turns them into what the client
//! takes.

use std::time::Duration;

use temporalio_client::{
    ClientKeepAliveOptions, ClientTlsOptions, ConnectionOptions, TlsOptions, Url,
};

use crate::config::ConnectionSettings;

impl ConnectionSettings {
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
}
