//! The health endpoint under a flood of idle and slow connections, as a careless (or hostile)
//! neighbour on the pod network can make one: probes are still answered, the supervisor's
//! descriptors and memory stay bounded, everything is back to normal once the flood is gone,
//! and the worker is never touched.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A generous bound on a probe's answer. The kubelet's default timeout is 1 s; how fast
/// probes are answered under a flood is measured by the benchmark (`bench/flood.sh`), on a
/// release build. Before the bounded server, a probe behind such a flood waited minutes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const HALF_REQUEST: &[u8] = b"GET /readyz HTTP/1.1\r\nHost: flood\r\n";

/// One probe as the kubelet makes it: a new connection, GET /readyz, within PROBE_TIMEOUT.
/// Returns the status code (0 when unanswered) and how long it took.
fn probe(port: u16) -> (u16, Duration) {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answer = (|| {
        let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).ok()?;
        stream
            .set_read_timeout(Some(PROBE_TIMEOUT.saturating_sub(start.elapsed())))
            .ok()?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split_whitespace().nth(1)?.parse().ok()
    })();
    (answer.unwrap_or(0), start.elapsed())
}

/// Probes `count` times, 100 ms apart; fails the test on any probe not answered 200 within
/// PROBE_TIMEOUT.
fn probes_answered(port: u16, count: usize, during: &str) {
    let mut slow = Vec::new();
    for _ in 0..count {
        let (code, took) = probe(port);
        if code != 200 || took > PROBE_TIMEOUT {
            slow.push(format!("{code} after {took:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        slow.is_empty(),
        "{during}: {} of {count} probes not answered within {PROBE_TIMEOUT:?}: {slow:?}",
        slow.len()
    );
}

/// Connections held open to a port by a runtime of their own: a tenth send half a request,
/// `slow` of them send a byte every 200 ms and never finish, the others send nothing. With
/// `reopen`, each is opened again (after up to 100 ms) whenever the server closes it.
struct Flood {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    opened: Arc<AtomicUsize>,
}

impl Flood {
    fn start(port: u16, connections: usize, slow: usize, reopen: bool) -> Flood {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                for i in 0..connections {
                    let kind = if i < slow {
                        2
                    } else if i % 10 == 0 {
                        1
                    } else {
                        0
                    };
                    tokio::spawn(hold(port, i, kind, reopen, counter.clone()));
                    // Opened at a pace, not all in one instant.
                    if i % 500 == 499 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                let _ = stopped.await;
            });
            // Dropping the runtime closes every connection.
        });
        Flood {
            stop: Some(stop),
            thread: Some(thread),
            opened,
        }
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.end();
    }
}

async fn hold(port: u16, i: usize, kind: u8, reopen: bool, opened: Arc<AtomicUsize>) {
    // Many loopback source addresses, so that re-opened connections never run out of ports.
    let source: SocketAddr = format!("127.0.{}.{}:0", 1 + i / 250 % 250, 2 + i % 250)
        .parse()
        .unwrap();
    loop {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if socket.bind(source).is_err() {
            return;
        }
        let connect = socket.connect(SocketAddr::from(([127, 0, 0, 1], port)));
        let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(5), connect).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::SeqCst);
        match kind {
            1 => {
                let _ = stream.write_all(HALF_REQUEST).await;
            }
            2 => {
                for byte in HALF_REQUEST.iter().cycle() {
                    if stream.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            _ => {}
        }
        // Held until the server closes it.
        let mut sink = [0u8; 1024];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
        if !reopen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..100))).await;
    }
}

/// The highest descriptor count and RSS of a process, sampled every 50 ms until stopped.
struct Sampler {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, u64)>,
}

impl Sampler {
    fn start(pid: i32) -> Sampler {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let (mut fds, mut rss) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                fds = fds.max(fd_count(pid));
                rss = rss.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            (fds, rss)
        });
        Sampler { done, thread }
    }

    fn finish(self) -> (usize, u64) {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// This test process needs a descriptor per flood connection.
fn raise_own_descriptor_limit(needed: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a struct of our own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let hard = limit.rlim_max;
        // Root may raise the hard limit too (as the test command runs in CI).
        limit.rlim_max = limit.rlim_max.max(needed);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit),
            0,
            "this test holds {needed} connections: the hard descriptor limit ({hard}) must \
             allow it (ulimit -Hn), or the test run as root"
        );
    }
    limit.rlim_max
}

/// `run` with the health endpoints and an idle worker, started with this descriptor limit
/// (soft, hard).
fn supervised(server: &DevServer, health: u16, nofile: (u64, u64)) -> Supervised {
    let mut cmd: Command = supervisor();
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: nofile.0,
                rlim_max: nofile.1,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let listen = format!("127.0.0.1:{health}");
    Supervised::start_with(
        cmd,
        &[
            "run",
            "--address",
            &server.address(),
            "--health-listen",
            &listen,
        ],
        POLITE_WORKER,
    )
}

fn worker_untouched(run: &Supervised, health: u16, worker: i32) {
    assert_eq!(run.worker_pids(), vec![worker], "the worker was restarted");
    assert!(alive(worker), "the worker is gone");
    let (_, body) = http_get(health, "/readyz");
    assert!(body.contains("\"restarts\":0"), "{body}");
}

#[test]
fn ten_thousand_idle_and_slow_connections_cannot_starve_a_probe() {
    const CONNECTIONS: usize = 10_000;
    let hard = raise_own_descriptor_limit(CONNECTIONS as u64 + 2_000);
    let server = DevServer::start();
    let health = free_port();
    // The supervisor starts with the soft limit many systems give (1024): it raises its own,
    // and hands the worker the one it inherited.
    let run = supervised(&server, health, (1024, hard));
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("ready", PATIENCE, || probe(health).0 == 200);
    let worker = run.worker_pids()[0];
    let limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().nth(3),
        Some("1024"),
        "the worker's soft descriptor limit is the inherited one: {open_files}"
    );
    probes_answered(health, 10, "before the flood");
    std::thread::sleep(Duration::from_millis(300));
    let (fds_before, rss_before) = (run.fd_count(), rss_kib(run.pid()));

    let sampler = Sampler::start(run.pid());
    let flood = Flood::start(health, CONNECTIONS, 1_000, true);
    eventually("every flood connection opened once", PATIENCE, || {
        flood.opened() >= CONNECTIONS
    });
    // Long enough for the flood's connections to time out and come back at least once.
    probes_answered(health, 80, "under the flood");
    flood.stop();
    let (fds_peak, rss_peak) = sampler.finish();
    assert!(
        fds_peak <= fds_before + CONNECTIONS + 64,
        "descriptors: {fds_before} before, {fds_peak} at the peak"
    );
    assert!(
        rss_peak <= rss_before + 64 * 1024,
        "RSS: {rss_before} KiB before, {rss_peak} KiB at the peak"
    );
    eventually(
        "descriptors back to where they were",
        Duration::from_secs(20),
        || run.fd_count() <= fds_before,
    );
    probes_answered(health, 5, "after the flood");
    worker_untouched(&run, health, worker);
}

#[test]
fn past_the_descriptor_budget_the_oldest_idle_connections_are_shed() {
    const CONNECTIONS: usize = 3_000;
    raise_own_descriptor_limit(CONNECTIONS as u64 + 2_000);
    let server = DevServer::start();
    let health = free_port();
    // A hard limit of 1024: a budget of 768 connections (256 descriptors kept for the rest).
    let run = supervised(&server, health, (1024, 1024));
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("ready", PATIENCE, || probe(health).0 == 200);
    let worker = run.worker_pids()[0];
    std::thread::sleep(Duration::from_millis(300));
    let fds_before = run.fd_count();

    let sampler = Sampler::start(run.pid());
    let flood = Flood::start(health, CONNECTIONS, 0, false);
    eventually("every flood connection opened", PATIENCE, || {
        flood.opened() >= CONNECTIONS
    });
    probes_answered(health, 10, "with the budget full of idle connections");
    let (fds_peak, _) = sampler.finish();
    assert!(
        fds_peak <= fds_before + 768 + 8,
        "descriptors: {fds_before} before, {fds_peak} at the peak, past the budget"
    );
    let (_, metrics) = http_get(health, "/metrics");
    let shed = metrics
        .lines()
        .find(|l| {
            l.starts_with("temporal_supervisor_health_connections_shed_total{reason=\"budget\"}")
        })
        .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(shed >= 1_000, "shed for the budget: {shed}\n{metrics}");
    flood.stop();
    eventually(
        "descriptors back to where they were",
        Duration::from_secs(20),
        || run.fd_count() <= fds_before,
    );
    worker_untouched(&run, health, worker);
}
