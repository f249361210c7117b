//! Several workers' output on one terminal or log: each line prefixed with the worker's name
//! (and replica), as docker-compose and overmind do, or wrapped as a JSON object with
//! `--log-format json`.
//!
//! A worker's stdout and stderr are pipes to the supervisor; one task per pipe cuts what it
//! reads into lines (bytes, not text: binary output passes as it is) and hands whole lines to
//! one writer thread per stream, so lines of different workers never mix mid-line. A line
//! longer than [`MAX_LINE`] is cut into several; a last line without a newline gets one.
//! When our own stdout blocks, the workers' pipes fill and they wait, as they would writing
//! to it directly: their output is never dropped. A failed write (closed pipe) is ignored.
//!
//! Colours only on a terminal, and never with `NO_COLOR` set.

use std::io::{IsTerminal, Write};
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdout};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{LogFormat, LogSettings};
use crate::logging;

/// Longer lines are cut into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;

/// Lines waiting for a writer thread, per stream.
const QUEUE_LINES: usize = 256;

/// Prefix colours, one per worker in turn.
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "91"];

/// Where prefixed lines go: one writer thread for our stdout, one for our stderr.
pub struct Output {
    stdout: Stream,
    stderr: Stream,
    json: bool,
    /// Names are padded to this width so that the lines line up.
    width: usize,
    /// The tasks reading the workers' pipes, so that `run` can let them finish.
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

/// What a writer thread gets: a line to write, or a request to say it got this far.
enum Chunk {
    Line(Vec<u8>),
    Flushed(oneshot::Sender<()>),
}

struct Stream {
    lines: mpsc::Sender<Chunk>,
    colour: bool,
}

impl Stream {
    fn start(name: &str, colour: bool, mut out: impl Write + Send + 'static) -> Stream {
        let (lines, mut queue) = mpsc::channel::<Chunk>(QUEUE_LINES);
        let _ = std::thread::Builder::new()
            .name(format!("output-{name}"))
            .spawn(move || {
                while let Some(chunk) = queue.blocking_recv() {
                    match chunk {
                        Chunk::Line(line) => {
                            let _ = out.write_all(&line).and_then(|()| out.flush());
                        }
                        Chunk::Flushed(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        Stream { lines, colour }
    }

    /// Waits until the thread has written what was queued before.
    async fn flushed(&self) {
        let (done, wait) = oneshot::channel();
        if self.lines.send(Chunk::Flushed(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Which of a worker's streams a line came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Stdout,
    Stderr,
}

/// Who wrote the lines of one pipe.
#[derive(Clone)]
struct Writer {
    name: String,
    replica: u32,
    label: String,
    colour: &'static str,
}

impl Output {
    /// Starts the writer threads; `labels` are every worker process's label, for the width.
    pub fn new(log: &LogSettings, labels: &[String]) -> Output {
        let (json, colour) = (log.format == LogFormat::Json, log.colour);
        Output {
            stdout: Stream::start(
                "stdout",
                colour && std::io::stdout().is_terminal(),
                std::io::stdout(),
            ),
            stderr: Stream::start(
                "stderr",
                colour && std::io::stderr().is_terminal(),
                std::io::stderr(),
            ),
            json,
            width: labels.iter().map(String::len).max().unwrap_or(0),
            pumps: Mutex::new(Vec::new()),
        }
    }

    /// Before `run` exits: lets the workers' last lines through (they are gone, so their
    /// pipes end, unless a stray process still holds one), waiting at most `limit` for the
    /// pipes, then always for what was already read to be written.
    pub async fn finish(&self, limit: Duration) {
        let pumps: Vec<_> =
            std::mem::take(&mut *self.pumps.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = tokio::time::Instant::now() + limit;
        for pump in pumps {
            let _ = tokio::time::timeout_at(deadline, pump).await;
        }
        let _ = tokio::time::timeout(limit, async {
            self.stdout.flushed().await;
            self.stderr.flushed().await;
        })
        .await;
    }

    /// Forwards a worker process's output until its pipes close. `position` picks its colour.
    pub fn attach(
        &self,
        name: &str,
        replica: u32,
        label: &str,
        position: usize,
        (stdout, stderr): (ChildStdout, ChildStderr),
    ) {
        let writer = Writer {
            name: name.to_string(),
            replica,
            label: format!("{label:<width$}", width = self.width),
            colour: COLOURS[position % COLOURS.len()],
        };
        for (fd, source) in [
            (OwnedFd::from(stdout), Source::Stdout),
            (OwnedFd::from(stderr), Source::Stderr),
        ] {
            let stream = match source {
                Source::Stdout => &self.stdout,
                Source::Stderr => &self.stderr,
            };
            let Ok(pipe) = pipe::Receiver::from_owned_fd(fd) else {
                continue;
            };
            let format = Format {
                writer: writer.clone(),
                source,
                json: self.json,
                colour: stream.colour,
            };
            let pump = tokio::spawn(pump(pipe, format, stream.lines.clone()));
            let mut pumps = self.pumps.lock().unwrap_or_else(|e| e.into_inner());
            pumps.retain(|p| !p.is_finished());
            pumps.push(pump);
        }
    }
}

/// How one pipe's lines are written.
struct Format {
    writer: Writer,
    source: Source,
    json: bool,
    colour: bool,
}

impl Format {
    /// One line (without its newline) as it is written out, newline included.
    fn line(&self, bytes: &[u8]) -> Vec<u8> {
        let w = &self.writer;
        if self.json {
            let object = json!({
                "time": logging::timestamp(),
                "worker": w.name,
                "replica": w.replica,
                "stream": match self.source {
                    Source::Stdout => "stdout",
                    Source::Stderr => "stderr",
                },
                "message": String::from_utf8_lossy(bytes),
            });
            return format!("{object}\n").into_bytes();
        }
        let prefix = if self.colour {
            format!("\x1b[{}m{} |\x1b[0m ", w.colour, w.label)
        } else {
            format!("{} | ", w.label)
        };
        let mut out = Vec::with_capacity(prefix.len() + bytes.len() + 1);
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
        out
    }
}

/// Reads a pipe to its end, sending each line, formatted, to the writer.
async fn pump(mut pipe: pipe::Receiver, format: Format, lines: mpsc::Sender<Chunk>) {
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    loop {
        let read = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..read]);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            if lines
                .send(Chunk::Line(format.line(&pending[start..start + end])))
                .await
                .is_err()
            {
                return;
            }
            start += end + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE {
            let piece: Vec<u8> = pending.drain(..MAX_LINE).collect();
            if lines.send(Chunk::Line(format.line(&piece))).await.is_err() {
                return;
            }
        }
    }
    if !pending.is_empty() {
        let _ = lines.send(Chunk::Line(format.line(&pending))).await;
    }
}
