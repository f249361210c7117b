//! Our logs never take the worker down: with stderr a pipe whose reader has gone, `wait` and
//! `run` carry on, count the lost lines, and the worker's exit code still comes out; with
//! stdout closed, `--help` and `config` end quietly.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Starts `cmd` with stderr a pipe whose reading end is closed at once: every write to it
/// fails with EPIPE. Stdout goes to a pipe we keep reading.
fn spawn_with_dead_stderr(mut cmd: Command) -> Child {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the supervisor");
    drop(child.stderr.take());
    child
}

fn exit_code(child: Child) -> i32 {
    code(wait_output(child, PATIENCE).status)
}

#[test]
fn wait_succeeds_and_gives_up_with_stderr_closed() {
    let server = DevServer::start();
    let mut cmd = supervisor();
    cmd.args(["wait", "--address", &server.address()]);
    assert_eq!(exit_code(spawn_with_dead_stderr(cmd)), 0);

    // Several failed attempts, each a log line into the closed pipe, then the usual 69.
    let mut cmd = supervisor();
    cmd.args([
        "wait",
        "--address",
        &format!("127.0.0.1:{}", free_port()),
        "--max-retries",
        "3",
        "--initial-delay",
        "50ms",
    ]);
    assert_eq!(exit_code(spawn_with_dead_stderr(cmd)), 69);
}

#[test]
fn run_supervises_across_a_worker_exit_and_a_stop_with_stderr_closed() {
    let server = DevServer::start();
    let scratch = Scratch::new("dead-stderr");
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let marker = scratch.path("ran-once");
    // The first worker fails at once; the second stops cleanly on SIGTERM with code 7. The
    // worker's own stderr is the same dead pipe: it sends it elsewhere, as the shell would
    // otherwise die of SIGPIPE reporting its killed `sleep`.
    let script = format!(
        "exec 2>/dev/null; if [ ! -e {m} ]; then touch {m}; exit 3; fi; \
         trap 'exit 7' TERM; echo $$ > {m}.pid; while :; do sleep 0.05; done",
        m = marker.display()
    );
    let mut cmd = supervisor();
    cmd.args([
        "run",
        "--address",
        &server.address(),
        "--health-listen",
        &listen,
        "--restart-delay",
        "100ms",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let child = spawn_with_dead_stderr(cmd);
    let supervisor_pid = child.id() as i32;

    eventually("the second worker to run", PATIENCE, || {
        scratch.read("ran-once.pid").trim().parse::<i32>().is_ok()
    });
    let (_, metrics) = http_get(health, "/metrics");
    let lost = metrics
        .lines()
        .find(|l| {
            l.starts_with("temporal_supervisor_log_lines_dropped_total{reason=\"write-failed\"}")
        })
        .unwrap_or_else(|| panic!("no count of lost log lines:\n{metrics}"));
    let count: f64 = lost.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "lines written into the closed pipe: {lost}");
    let (code, _) = http_get(health, "/readyz");
    assert_eq!(code, 200, "supervision goes on");

    kill(Pid::from_raw(supervisor_pid), Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(child), 7, "the worker's own code comes out");
}

/// `--help | head -1` and `config | head -1`: the reader is gone before we write.
#[test]
fn a_closed_stdout_ends_help_and_config_quietly() {
    for args in [&["--help"][..], &["config"], &["run", "--help"]] {
        let mut child = supervisor()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{args:?}: {status:?}; stderr: {stderr}"
        );
        assert!(stderr.is_empty(), "{args:?} printed on stderr: {stderr}");
    }
    // The same commands with a reader print their text, so the check above is not vacuous.
    let (out, _) = run(supervisor().arg("config"), Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_retries"));
}

/// A log collector that stopped reading: the pipe fills up, and a supervisor writing its logs
/// in place would block for good. Lines are dropped instead and the command ends on time.
#[test]
fn a_stalled_stderr_never_blocks_the_supervisor() {
    let mut child = supervisor()
        .args([
            "wait",
            "--address",
            &format!("127.0.0.1:{}", free_port()),
            "--max-retries",
            "3000",
            "--initial-delay",
            "1ms",
            "--max-delay",
            "1ms",
            "--jitter",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Held open, never read: about 3,000 lines of 150 bytes overflow the 64 KiB pipe buffer.
    let _unread = child.stderr.take();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the supervisor blocked on its stalled stderr");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(69));
}
