//! `check` and `wait` against a real Temporal dev server: ready, absent, late, half-ready,
//! frozen, unresolvable, and out of attempts or time.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn ready_server_check_and_wait_succeed_at_once() {
    let server = DevServer::start();
    let (out, elapsed) = run(
        supervisor().args(["check", "--address", &server.address()]),
        PATIENCE,
    );
    assert_eq!(code(out.status), 0, "{}", stderr(&out));
    assert!(elapsed < Duration::from_secs(5), "check took {elapsed:?}");

    let (out, elapsed) = run(
        supervisor().args(["wait", "--address", &server.address()]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    assert!(
        log.contains("Temporal is ready") && log.contains("attempt=1"),
        "{log}"
    );
    assert!(!log.contains("not ready"), "{log}");
    assert!(elapsed < Duration::from_secs(5), "wait took {elapsed:?}");
}

#[test]
fn nothing_listening_check_fails_within_a_second() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let (out, elapsed) = run(
        supervisor().args(["check", "--address", &address]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(elapsed < Duration::from_secs(1), "check took {elapsed:?}");
    assert!(
        log.contains("stage=connect") && log.contains("connection refused"),
        "{log}"
    );
}

#[test]
fn a_connection_that_meets_itself_counts_as_refused() {
    // In a network namespace of its own whose ephemeral range is a single port, a connect to
    // that port (nothing listens) gets it as its source port too, and TCP's simultaneous
    // open connects the socket to itself. On a shared machine the same happens by chance to
    // a gate that watches a port of the ephemeral range for long enough.
    let port = 45_000;
    let namespace_setup = format!(
        r#"import fcntl, os, socket, struct, sys
fcntl.ioctl(socket.socket(), 0x8914, struct.pack("16sH", b"lo", 1))  # SIOCSIFFLAGS lo up
with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
    f.write("{port} {port}")
os.execv(sys.argv[1], sys.argv[1:])"#
    );
    let python = python();
    let (out, _) = run(
        Command::new("unshare")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
            .arg("--net")
            .arg(&python)
            .args(["-c", &namespace_setup, BIN, "check", "--address"])
            .arg(format!("127.0.0.1:{port}")),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(
        log.contains("stage=connect") && log.contains("connection refused (met itself)"),
        "{log}"
    );
}

#[test]
fn wait_proceeds_as_soon_as_a_late_server_opens_its_port() {
    // No jitter: attempts at 0, 1, 3 and 7 s. The server starts at 3 s, so the schedule alone
    // would not look again before 7 s; the port watch must notice the port opening.
    let mut server = DevServer::unstarted(free_port());
    let start = Instant::now();
    let child = supervisor()
        .args(["wait", "--address", &server.address(), "--jitter", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    server.spawn_in_background();
    let port = server.port;
    eventually("the server's port to open", PATIENCE, || port_open(port));
    let opened = start.elapsed();
    let out = wait_output(child, PATIENCE);
    let exited = start.elapsed();
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    let lag = exited.saturating_sub(opened);
    assert!(
        lag < Duration::from_millis(2500),
        "wait exited {lag:?} after the port opened (at {opened:?}); log:\n{log}"
    );
    assert!(log.contains("port is accepting connections"), "{log}");
}

#[test]
fn wait_holds_until_the_namespace_exists() {
    let server = DevServer::start();
    let mut child = supervisor()
        .args([
            "wait",
            "--address",
            &server.address(),
            "--namespace",
            "orders",
        ])
        .args([
            "--initial-delay",
            "200ms",
            "--max-delay",
            "500ms",
            "--max-retries",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "wait must hold while the namespace is missing"
    );

    let created = server.cli(&["operator", "namespace", "create", "-n", "orders"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let out = wait_output(child, PATIENCE);
    let log = stderr(&out);
    assert_eq!(code(out.status), 0, "{log}");
    assert!(
        log.contains("stage=namespace") && log.contains("namespace 'orders' does not exist"),
        "{log}"
    );
    assert!(log.contains("Temporal is ready"), "{log}");
}

#[test]
fn frozen_server_attempts_end_at_the_attempt_timeout() {
    let server = DevServer::start();
    server.freeze();

    let (out, elapsed) = run(
        supervisor().args([
            "check",
            "--address",
            &server.address(),
            "--attempt-timeout",
            "1s",
        ]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 1, "{log}");
    assert!(
        log.contains("no answer within the attempt timeout (1s)"),
        "{log}"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );

    let (out, elapsed) = run(
        supervisor()
            .args([
                "wait",
                "--address",
                &server.address(),
                "--attempt-timeout",
                "500ms",
            ])
            .args([
                "--max-retries",
                "3",
                "--initial-delay",
                "100ms",
                "--jitter",
                "0",
            ]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert_eq!(
        log.matches("no answer within the attempt timeout (500ms)")
            .count(),
        3,
        "{log}"
    );
    // Three 0.5 s attempts and delays of 0.1 s and 0.2 s.
    assert!(
        elapsed >= Duration::from_millis(1700) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );

    server.resume();
    let (out, _) = run(
        supervisor().args(["check", "--address", &server.address()]),
        PATIENCE,
    );
    assert_eq!(
        code(out.status),
        0,
        "a resumed server is ready again: {}",
        stderr(&out)
    );
}

#[test]
fn unresolvable_host_is_retried_then_gives_up_with_69() {
    let (out, _) = run(
        supervisor()
            .args(["wait", "--address", "no-such-host.invalid:7233"])
            .args(["--max-retries", "3", "--initial-delay", "100ms"]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert_eq!(log.matches("stage=resolve").count(), 3, "{log}");
    assert!(
        log.contains("cannot resolve 'no-such-host.invalid'"),
        "{log}"
    );
    assert!(
        log.contains("giving up on Temporal after 3 attempts"),
        "{log}"
    );
}

#[test]
fn exhausted_attempts_give_up_after_the_scheduled_time() {
    let address = format!("127.0.0.1:{}", free_port());
    let (out, elapsed) = run(
        supervisor()
            .args(["wait", "--address", &address, "--max-retries", "4"])
            .args([
                "--initial-delay",
                "200ms",
                "--backoff-factor",
                "2",
                "--jitter",
                "0",
            ]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert_eq!(log.matches("Temporal not ready").count(), 3, "{log}");
    assert!(
        log.contains("giving up on Temporal after 4 attempts"),
        "{log}"
    );
    // Delays of 0.2, 0.4 and 0.8 s.
    assert!(
        elapsed >= Duration::from_millis(1350) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn overall_timeout_gives_up_with_69() {
    let address = format!("127.0.0.1:{}", free_port());
    let (out, elapsed) = run(
        supervisor()
            .args(["wait", "--address", &address, "--timeout", "1500ms"])
            .args([
                "--max-retries",
                "0",
                "--initial-delay",
                "200ms",
                "--jitter",
                "0",
            ]),
        PATIENCE,
    );
    let log = stderr(&out);
    assert_eq!(code(out.status), 69, "{log}");
    assert!(log.contains("after the 1.5s timeout"), "{log}");
    assert!(
        elapsed >= Duration::from_millis(1450) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = supervisor()
        .args([
            "wait",
            "--address",
            &address,
            "--max-retries",
            "2",
            "--initial-delay",
            "100ms",
        ])
        .args(["--log-format", "json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(code(child.wait().unwrap()), 69);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        for field in ["\"time\"", "\"level\"", "\"message\""] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
    }
    assert!(text.contains("\"stage\":\"connect\""), "{text}");
}
