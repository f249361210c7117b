//! `status` reads at most a bounded answer: whatever listens on the health address (a
//! typo, another program) costs it no more than a few MiB, and it says what was wrong.

use std::time::Duration;

use crate::common::measured::run_measured;
use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn an_endless_answer_is_cut_short() {
    // Stands in for something that is not our health endpoint: a valid response head, then a
    // body that never ends, as fast as loopback takes it.
    let port = serve_tcp(|mut stream| async move {
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).await;
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n";
        if stream.write_all(head).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        while stream.write_all(&chunk).await.is_ok() {}
    });
    let out = run_measured(
        supervisor().args(["status", "--health-listen", &format!("127.0.0.1:{port}")]),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("an answer over 1 MiB"),
        "{}",
        out.stderr
    );
    assert!(
        out.peak_rss_kib < 64 * 1024,
        "peak RSS {} KiB reading an endless answer",
        out.peak_rss_kib
    );
}
