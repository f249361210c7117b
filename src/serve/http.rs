//! One HTTP/1 request per connection, read and answered within fixed bounds, for the health
//! endpoints. Their clients (the kubelet, Docker's `HEALTHCHECK`, Prometheus) send a small GET
//! and read a small answer, while anyone on the network may hold connections open; so a
//! connection costs as little as possible while it waits:
//!
//! - nothing is allocated until the first byte comes (the connection is a small task);
//! - the head must be in by the caller's deadline;
//! - the request head is read into a buffer that grows up to [`MAX_HEAD`] (a kubelet probe's
//!   is about 120 bytes) and parsed with `httparse` (hyper's own parser); a longer head is
//!   answered 431, a malformed one 400;
//! - a body is never read; the answer carries `Connection: close`, and the connection is
//!   closed gracefully (unread bytes would make the kernel reset it, which can lose the
//!   answer before the client reads it).
//!
//! The deadline for the whole exchange is the caller's.

use std::time::Duration;

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest request head accepted.
pub const MAX_HEAD: usize = 4096;
/// Most request headers accepted (a kubelet probe sends four).
const MAX_HEADERS: usize = 32;
/// After answering, how long unread bytes from the client are drained before closing.
const LINGER: Duration = Duration::from_millis(500);

/// A request as the endpoints see it.
#[derive(Debug, PartialEq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// An answer: its status, content type and body.
#[derive(Debug)]
pub struct Response {
    pub code: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn new(code: StatusCode, content_type: &'static str, body: String) -> Response {
        Response {
            code,
            content_type,
            body,
        }
    }

    fn text(code: StatusCode, body: &str) -> Response {
        Response::new(code, "text/plain", body.into())
    }
}

/// How a connection ended without an answer.
#[derive(Debug, PartialEq)]
pub enum Unanswered {
    /// Closed (or failed) before a whole request head came.
    Closed,
    /// The request head did not come by its deadline.
    TooSlow,
}

/// Reads one request head from `stream` (by `head_by`) and answers it with `answer`; the
/// caller then [`close`]s the connection. `started` is called once the whole head is in (the
/// connection is then being served, no longer idle).
pub async fn serve(
    stream: &mut TcpStream,
    head_by: Instant,
    started: impl FnOnce(),
    answer: impl AsyncFnOnce(&Request<'_>) -> Response,
) -> Result<(), Unanswered> {
    // Until its first byte comes, a connection costs nothing but its task. (`readable` alone
    // is not enough: a new socket may report readiness before any byte has come.)
    match tokio::time::timeout_at(head_by, stream.peek(&mut [0u8; 1])).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return Err(Unanswered::Closed),
        Err(_) => return Err(Unanswered::TooSlow),
    }
    let mut head = Vec::new();
    let response = loop {
        if head.len() >= MAX_HEAD {
            break Response::text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large\n",
            );
        }
        // Grows only as bytes come, and never past MAX_HEAD.
        head.reserve((MAX_HEAD - head.len()).min(512));
        let room = head.capacity().min(MAX_HEAD) - head.len();
        let mut limited = (&mut *stream).take(room as u64);
        match tokio::time::timeout_at(head_by, limited.read_buf(&mut head)).await {
            Ok(Ok(0) | Err(_)) => return Err(Unanswered::Closed),
            Ok(Ok(_)) => {}
            Err(_) => return Err(Unanswered::TooSlow),
        }
        match parse(&head) {
            Parsed::Partial => continue,
            Parsed::Malformed => break Response::text(StatusCode::BAD_REQUEST, "bad request\n"),
            Parsed::Complete(request) => {
                started();
                break match request.method {
                    "GET" | "HEAD" => answer(&request).await,
                    _ => Response::text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n"),
                };
            }
        }
    };
    let head_only = head.starts_with(b"HEAD ");
    let _ = stream.write_all(&encode(&response, head_only)).await;
    Ok(())
}

enum Parsed<'a> {
    Partial,
    Malformed,
    Complete(Request<'a>),
}

fn parse(head: &[u8]) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(_)) => {
            let (Some(method), Some(target)) = (request.method, request.path) else {
                return Parsed::Malformed;
            };
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (target, None),
            };
            Parsed::Complete(Request {
                method,
                path,
                query,
            })
        }
        Err(_) => Parsed::Malformed,
    }
}

fn encode(response: &Response, head_only: bool) -> Vec<u8> {
    let reason = response.code.canonical_reason().unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        response.code.as_u16(),
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(response.body.as_bytes());
    }
    out
}

/// Closes gracefully: our side first, then whatever the client still sends is drained for a
/// moment, so that the kernel closes with a FIN rather than a reset.
pub async fn close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 512];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_or_refused() {
        let probe = b"GET /readyz?worker=docs HTTP/1.1\r\nHost: 10.0.0.5:8080\r\n\
                      User-Agent: kube-probe/1.30\r\nAccept: */*\r\nConnection: close\r\n\r\n";
        match parse(probe) {
            Parsed::Complete(r) => assert_eq!(
                r,
                Request {
                    method: "GET",
                    path: "/readyz",
                    query: Some("worker=docs")
                }
            ),
            _ => panic!("a kubelet probe parses"),
        }
        assert!(matches!(parse(&probe[..40]), Parsed::Partial));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Partial));
        assert!(matches!(parse(b"\x16\x03\x01\x02\x00"), Parsed::Malformed));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Parsed::Malformed
        ));
        let many: String = (0..40).map(|i| format!("x{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(many.as_bytes()), Parsed::Malformed));
    }

    #[test]
    fn answers_close_and_head_has_no_body() {
        let response = Response::text(StatusCode::OK, "ok\n");
        let full = String::from_utf8(encode(&response, false)).unwrap();
        assert_eq!(
            full,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\
             connection: close\r\n\r\nok\n"
        );
        let head = String::from_utf8(encode(&response, true)).unwrap();
        assert!(head.ends_with("content-length: 3\r\nconnection: close\r\n\r\n"));
    }
}
