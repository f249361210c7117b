//! Temporal's address: `host:port`, `[v6]:port`, or an `http`/`https` URL; parsed, joined
//! back, and shown with any credentials in it redacted.

use temporalio_client::Url;

/// An address, parsed: whether its scheme asks for TLS, its host and port, and the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub text: String,
}

/// `text`, an address, as it may be shown: credentials in it (`https://user:secret@host`),
/// which `parse_address` refuses, replaced by `<redacted>`.
pub fn shown_address(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    match text[start..].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &text[..start], &text[start + at..]),
        None => text.to_string(),
    }
}

/// `host:port` as people write it (`[v6]:port` for an IPv6 host): what [`parse_address`]
/// parses back to the same host and port.
pub fn join_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parses `host:port`, `[v6]:port`, or a URL with an `http` or `https` scheme.
pub fn parse_address(text: &str) -> Result<Target, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a host:port address ({e})"))?;
    let https = match url.scheme() {
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
    // The URL drops a scheme's default port: given only where the text ends with it.
    let port = url
        .port_or_known_default()
        .filter(|p| url.port().is_some() || text.trim_end_matches('/').ends_with(&format!(":{p}")))
        .ok_or("missing port (expected host:port, e.g. localhost:7233)")?;
    if port == 0 {
        return Err("port 0 is not a valid server port".into());
    }
    let text = text.to_string();
    Ok(Target {
        https,
        host,
        port,
        text,
    })
}
