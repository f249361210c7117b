//! Parsers for setting values: each takes the raw text and says what it expected.

use std::time::Duration;

use nix::sys::signal::Signal;
use temporalio_client::Url;

use crate::duration;

pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub fn parse_count(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number from 0 up".to_string())
}

pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = duration::parse(text)?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

pub fn parse_factor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && (1.0..=100.0).contains(&f) => Ok(f),
        _ => Err("expected a number from 1 to 100".into()),
    }
}

pub fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

pub fn parse_positive_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number from 1 up".into()),
    }
}

/// `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let t = text.trim().to_ascii_uppercase();
    let signal = match t.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) if t.starts_with("SIG") => t.parse().ok(),
        Err(_) => format!("SIG{t}").parse().ok(),
    };
    match signal {
        Some(Signal::SIGKILL | Signal::SIGSTOP) | None => {
            Err("expected a signal name or number, such as SIGTERM, SIGINT or 15 (not SIGKILL or SIGSTOP)".into())
        }
        Some(signal) => Ok(signal),
    }
}

/// `0.0.0.0:8080`, `[::]:8080`, `127.0.0.1:8080`, or `:8080` for every IPv4 interface.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    let t = text.trim();
    let full = match t.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => t.to_string(),
    };
    full.parse()
        .map_err(|_| "expected an IP address and port such as 0.0.0.0:8080 or :8080".into())
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
