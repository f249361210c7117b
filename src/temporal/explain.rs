//! Failures in words: a transport error or a gRPC status becomes one line that says what
//! happened and, where it can, what to check (TLS, the API key, the server's rate limit).

use std::error::Error as StdError;

use temporalio_client::errors::ClientConnectError;
use temporalio_client::tonic::{self, Code};

use crate::config::ConnectionSettings;
use crate::temporal::bound::Bound;

/// The error and its causes as one line, without repeats.
fn chain(e: &dyn StdError) -> String {
    let mut texts = Vec::new();
    let mut current: Option<&dyn StdError> = Some(e);
    while let Some(err) = current {
        texts.push(err.to_string());
        current = err.source();
    }
    join_distinct(texts)
}

/// Joins messages with ": ", leaving out any that another message already contains
/// (error layers often repeat their cause's text).
fn join_distinct(texts: Vec<String>) -> String {
    let kept: Vec<&String> = texts
        .iter()
        .enumerate()
        .filter(|(i, text)| {
            !text.is_empty()
                && !texts.iter().enumerate().any(|(j, other)| {
                    j != *i && other.contains(text.as_str()) && (other != *text || j < *i)
                })
        })
        .map(|(_, text)| text)
        .collect();
    kept.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(": ")
}

pub fn looks_like_tls(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "alert",
        "unknownissuer",
        "notvalidforname",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

pub fn describe_connect_error(e: &ClientConnectError) -> String {
    match e {
        ClientConnectError::TonicTransportError(err) => {
            let text = chain(err);
            if looks_like_tls(&text) {
                format!("TLS handshake failed: {text}")
            } else {
                text
            }
        }
        ClientConnectError::SystemInfoCallError(status) => {
            format!("GetSystemInfo: {}", describe_status(status, None))
        }
        other => other.to_string(),
    }
}

/// A gRPC status in words, calling out rejections by TLS or authentication.
pub fn describe_status(status: &tonic::Status, bound: Option<&Bound>) -> String {
    let mut texts = vec![status.message().to_string()];
    let mut current = status.source();
    while let Some(err) = current {
        texts.push(err.to_string());
        current = err.source();
    }
    let detail = join_distinct(texts);
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            format!("authentication rejected by the server: {detail}")
        }
        Code::ResourceExhausted => {
            format!("rate limited by the server (ResourceExhausted): {detail}")
        }
        Code::Cancelled | Code::DeadlineExceeded if bound.is_some() => {
            bound.map(Bound::timed_out).unwrap_or_default()
        }
        _ if looks_like_tls(&detail) => format!("TLS rejected: {detail}"),
        code => format!("{code:?}: {detail}"),
    }
}

/// Whether a status is the server refusing our credentials.
pub fn is_auth(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied)
}

/// The server refused our credentials: its own message, and what to check. Never the key.
pub fn auth_rejection(settings: &ConnectionSettings, status: &tonic::Status) -> String {
    let said = format!("{:?}: {}", status.code(), status.message());
    match &settings.api_key_from {
        Some(source) => {
            format!("the server rejected the API key ({said}); check the key in {source}")
        }
        None => format!(
            "the server requires credentials ({said}); give an API key (TEMPORAL_API_KEY or \
             --api-key) or a client certificate"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_error_layers_are_said_once() {
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_distinct(texts(&[
                "transport error",
                "transport error: connection error",
                "connection error"
            ])),
            "transport error: connection error"
        );
        assert_eq!(join_distinct(texts(&["a", "b", "a"])), "a: b");
        assert_eq!(join_distinct(texts(&["x", ""])), "x");
    }
}
