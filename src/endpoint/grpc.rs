//! gRPC messages in an HTTP/2 body, for the RPCs the endpoint looks into.
//!
//! A gRPC body is a sequence of messages, each a 5-byte prefix (a compressed flag and a
//! big-endian length) and the message; the status comes in the trailers. [`Inspected`] passes a
//! body through message by message: it holds the bytes of one message until it is whole, hands
//! it to its [`Inspector`] (decompressed, when it was gzip-compressed), and sends it on,
//! unchanged unless the inspector changed it. It never holds more than one message, and a
//! message it cannot read (larger than [`MOST_INSPECTED`], compressed with something other than
//! gzip, or malformed) goes through untouched as it comes.

use std::convert::Infallible;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use hyper::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};
use tonic::Status;

/// The largest message the endpoint reads; larger ones pass untouched. Temporal's own limits
/// are far below it (4 MiB requests by default, 128 MiB for SDK responses).
pub const MOST_INSPECTED: usize = 256 << 20;
const PREFIX: usize = 5;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What looks at the messages of one body.
pub trait Inspector: Send + 'static {
    /// Whether it reads the messages; the data of one that does not passes at once.
    fn reads(&self) -> bool {
        true
    }
    /// The most of each message it needs to see: a compressed one is decompressed only that
    /// far (a poll's task token comes first; its history, megabytes, need not be inflated).
    fn prefix(&self) -> usize {
        MOST_INSPECTED
    }
    /// One whole message, decompressed. It may change the bytes in place (never their length);
    /// returns whether it did, and then the message goes on uncompressed.
    fn message(&mut self, message: &mut [u8]) -> bool;
    /// The body ended: with the gRPC status of its trailers, or `None` (no trailers, an error).
    fn end(&mut self, status: Option<Status>);
}

/// How the messages of a body are compressed (`grpc-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// Something the endpoint does not read: compressed messages pass untouched.
    Other,
}

impl Encoding {
    pub fn of(headers: &HeaderMap) -> Encoding {
        match headers.get("grpc-encoding").map(|v| v.as_bytes()) {
            None | Some(b"identity") => Encoding::Identity,
            Some(b"gzip") => Encoding::Gzip,
            Some(_) => Encoding::Other,
        }
    }
}

/// The gRPC status in a header map (trailers, or the headers of a trailers-only response).
pub fn status_of(headers: &HeaderMap) -> Option<Status> {
    Status::from_header_map(headers)
}

/// The first message of a body read whole, decompressed; `None` when it has none or it cannot
/// be read.
pub fn first_message(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    let prefix = body.get(..PREFIX)?;
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let message = body.get(PREFIX..PREFIX.checked_add(len)?)?;
    match (prefix[0], encoding) {
        (0, _) => Some(message.to_vec()),
        (1, Encoding::Gzip) => gunzip(message, MOST_INSPECTED),
        _ => None,
    }
}

/// A body of one data frame and the trailers of status OK: what the endpoint answers itself.
pub struct Unary {
    data: Option<Bytes>,
    done: bool,
}

impl Unary {
    pub fn new(data: Bytes) -> Unary {
        Unary {
            data: Some(data),
            done: false,
        }
    }
}

impl Body for Unary {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        self.done = true;
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

/// A body passed through message by message; see the module's documentation.
pub struct Inspected<B, I: Inspector> {
    inner: B,
    inspector: Option<I>,
    encoding: Encoding,
    /// The current message so far, prefix included.
    buf: BytesMut,
    /// Bytes still to come of a message that passes untouched.
    passing: usize,
    /// The inspector reads messages (else data passes at once).
    reads: bool,
    /// The trailers, held while the bytes before them go.
    trailers: Option<Frame<Bytes>>,
}

impl<B, I: Inspector> Inspected<B, I> {
    pub fn new(inner: B, encoding: Encoding, inspector: I) -> Self {
        Inspected {
            reads: inspector.reads(),
            inner,
            inspector: Some(inspector),
            encoding,
            buf: BytesMut::new(),
            passing: 0,
            trailers: None,
        }
    }

    fn end(&mut self, status: Option<Status>) {
        if let Some(mut inspector) = self.inspector.take() {
            inspector.end(status);
        }
    }

    /// The next bytes to send, if the buffer holds some that are ready.
    fn ready_bytes(&mut self) -> Option<Bytes> {
        if self.buf.len() < PREFIX {
            return None;
        }
        let compressed = self.buf[0] == 1;
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        let unreadable = len > MOST_INSPECTED || (compressed && self.encoding != Encoding::Gzip);
        if unreadable {
            // Send what there is, and the rest of this message as it comes.
            let have = self.buf.len().min(PREFIX + len);
            self.passing = PREFIX + len - have;
            return Some(self.buf.split_to(have).freeze());
        }
        if self.buf.len() < PREFIX + len {
            return None;
        }
        let mut frame = self.buf.split_to(PREFIX + len);
        let Some(inspector) = &mut self.inspector else {
            return Some(frame.freeze());
        };
        if !compressed {
            let seen = PREFIX + len.min(inspector.prefix());
            inspector.message(&mut frame[PREFIX..seen]);
            return Some(frame.freeze());
        }
        match gunzip(&frame[PREFIX..], inspector.prefix()) {
            Some(mut message) => {
                if inspector.message(&mut message) {
                    Some(frame_of(&message))
                } else {
                    Some(frame.freeze())
                }
            }
            None => Some(frame.freeze()),
        }
    }
}

/// A message as an uncompressed frame.
fn frame_of(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(PREFIX + message.len());
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame.freeze()
}

/// Decompresses `data`, up to `most` bytes of it (a message over [`MOST_INSPECTED`] whole is
/// not read at all).
fn gunzip(data: &[u8], most: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let most = most.min(MOST_INSPECTED);
    flate2::read::GzDecoder::new(data)
        .take(most as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    if out.len() > most {
        if most == MOST_INSPECTED {
            return None;
        }
        out.truncate(most);
    }
    Some(out)
}

impl<B, I> Body for Inspected<B, I>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    I: Inspector + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        loop {
            if this.passing == 0
                && let Some(bytes) = this.ready_bytes()
            {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !this.reads => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(mut data) => {
                        if this.passing > 0 {
                            let n = this.passing.min(data.len());
                            this.passing -= n;
                            let now = data.split_to(n);
                            this.buf.extend_from_slice(&data);
                            return Poll::Ready(Some(Ok(Frame::data(now))));
                        }
                        this.buf.extend_from_slice(&data);
                    }
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            let status = status_of(trailers);
                            this.end(status);
                        }
                        // Bytes of a message that never became whole go on as they were.
                        if !this.buf.is_empty() {
                            this.trailers = Some(frame);
                            let rest = this.buf.split().freeze();
                            return Poll::Ready(Some(Ok(Frame::data(rest))));
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    }
                },
                Some(Err(e)) => {
                    this.end(None);
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => {
                    this.end(None);
                    if !this.buf.is_empty() {
                        let rest = this.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buf.is_empty() && self.trailers.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B, I: Inspector> Drop for Inspected<B, I> {
    fn drop(&mut self) {
        // A body dropped before its end (the peer went away).
        self.end(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// The messages seen, and the status of the end once it came.
    type Record = (Vec<Vec<u8>>, Option<Option<tonic::Code>>);

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Record>>);

    impl Inspector for Seen {
        fn message(&mut self, message: &mut [u8]) -> bool {
            self.0.lock().unwrap().0.push(message.to_vec());
            if message.first() == Some(&b'x') {
                message[0] = b'y';
                return true;
            }
            false
        }
        fn end(&mut self, status: Option<Status>) {
            self.0.lock().unwrap().1 = Some(status.map(|s| s.code()));
        }
    }

    fn prefixed(compressed: bool, message: &[u8]) -> Vec<u8> {
        let mut out = vec![compressed as u8];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Runs `chunks` then trailers with `grpc-status: 0` through an inspected body.
    async fn pass(chunks: Vec<Vec<u8>>, encoding: Encoding) -> (Vec<u8>, Seen) {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = chunks
            .into_iter()
            .map(|c| Ok(Frame::data(Bytes::from(c))))
            .chain([Ok(Frame::trailers(trailers))])
            .collect();
        let body = StreamBody::new(tokio_stream::iter(frames));
        let seen = Seen::default();
        let collected = Inspected::new(body, encoding, seen.clone())
            .collect()
            .await
            .unwrap();
        assert!(collected.trailers().is_some());
        (collected.to_bytes().to_vec(), seen)
    }

    #[tokio::test]
    async fn messages_split_anywhere_are_seen_whole_and_pass_unchanged() {
        let mut wire = prefixed(false, b"first");
        wire.extend(prefixed(false, b""));
        wire.extend(prefixed(false, b"third message"));
        let chunks: Vec<Vec<u8>> = wire.chunks(3).map(<[u8]>::to_vec).collect();
        let (out, seen) = pass(chunks, Encoding::Identity).await;
        assert_eq!(out, wire);
        let seen = seen.0.lock().unwrap();
        assert_eq!(
            seen.0,
            [b"first".to_vec(), vec![], b"third message".to_vec()]
        );
        assert_eq!(seen.1, Some(Some(tonic::Code::Ok)));
    }

    #[tokio::test]
    async fn a_gzip_message_is_read_decompressed_and_kept_compressed_unless_changed() {
        let kept = prefixed(true, &gzip(b"kept"));
        let (out, seen) = pass(vec![kept.clone()], Encoding::Gzip).await;
        assert_eq!(out, kept);
        assert_eq!(seen.0.lock().unwrap().0, [b"kept".to_vec()]);
        // A changed message goes on uncompressed.
        let (out, _) = pass(vec![prefixed(true, &gzip(b"xchange"))], Encoding::Gzip).await;
        assert_eq!(out, prefixed(false, b"ychange"));
    }

    #[tokio::test]
    async fn what_cannot_be_read_passes_untouched() {
        // Another compression: not read, passed as it came.
        let other = prefixed(true, b"zstd bytes");
        let (out, seen) = pass(vec![other.clone()], Encoding::Other).await;
        assert_eq!(out, other);
        assert!(seen.0.lock().unwrap().0.is_empty());
        // A truncated message: its bytes still go on.
        let mut cut = prefixed(false, b"whole message");
        cut.truncate(9);
        let (out, _) = pass(vec![cut.clone()], Encoding::Identity).await;
        assert_eq!(out, cut);
    }
}
