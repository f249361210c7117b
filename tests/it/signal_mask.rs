//! A parent that blocks or ignores signals (some shells, process managers and language
//! runtimes do) changes nothing: `run` still sees its worker exit and still obeys SIGTERM, and
//! every worker, of `run` and of `exec`, starts with an empty mask and default dispositions,
//! as its own `/proc/self/status` shows.

use std::process::Command;
use std::time::Duration;

use crate::common::*;
use nix::sys::signal::Signal;

/// The parent: blocks and ignores the signals it is given, then execs the rest of its
/// arguments (exec keeps both the mask and ignored dispositions).
const PARENT: &str = "
import os, signal, sys
block = [getattr(signal, name) for name in sys.argv[1].split(',') if name]
ignore = [getattr(signal, name) for name in sys.argv[2].split(',') if name]
signal.pthread_sigmask(signal.SIG_BLOCK, block)
for s in ignore:
    signal.signal(s, signal.SIG_IGN)
os.execv(sys.argv[3], sys.argv[3:])
";

const HOSTILE: &str = "SIGCHLD,SIGTERM,SIGINT,SIGHUP,SIGUSR1,SIGQUIT";

/// Quicker than PATIENCE to notice the old hang, still generous.
const LIMIT: Duration = Duration::from_secs(30);

/// The supervisor, started by a parent that blocks `block` and ignores `ignore`.
fn under_parent(block: &str, ignore: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
        .stdin(std::process::Stdio::null())
        .args(["-c", PARENT, block, ignore, BIN]);
    cmd
}

/// A hexadecimal signal set from a `/proc/.../status` text (`SigBlk`, `SigIgn`).
fn sigset(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

fn assert_clean_start(what: &str, status: &str) {
    assert_eq!(
        sigset(status, "SigBlk"),
        0,
        "{what}: signals blocked:\n{status}"
    );
    assert_eq!(
        sigset(status, "SigIgn"),
        0,
        "{what}: signals ignored:\n{status}"
    );
}

#[test]
fn run_sees_its_worker_exit_and_gives_it_a_clean_start() {
    let server = DevServer::start();
    for (block, ignore) in [(HOSTILE, ""), ("", HOSTILE)] {
        let mut run = Supervised::start_with(
            under_parent(block, ignore),
            &["run", "--address", &server.address(), "--restart", "never"],
            &["cat", "/proc/self/status"],
        );
        // With SIGCHLD blocked, the supervisor never learnt that its worker had exited.
        let (code, log) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "blocked {block:?}, ignored {ignore:?}: {log}");
        assert_clean_start(
            &format!("worker of run (blocked {block:?}, ignored {ignore:?})"),
            &log,
        );
    }
}

#[test]
fn run_obeys_sigterm_whatever_its_parent_blocked_or_ignored() {
    let server = DevServer::start();
    for (block, ignore) in [(HOSTILE, ""), ("", HOSTILE)] {
        let mut run = Supervised::start_with(
            under_parent(block, ignore),
            &["run", "--address", &server.address()],
            POLITE_WORKER,
        );
        run.wait_for_log("worker started", 1, PATIENCE);
        run.wait_for_worker_loop();
        // Every thread of the supervisor runs with an empty mask.
        for task in std::fs::read_dir(format!("/proc/{}/task", run.pid())).unwrap() {
            let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
            assert_eq!(
                sigset(&status, "SigBlk"),
                0,
                "a supervisor thread blocks signals"
            );
        }
        // (The worker's own mask is read by the worker itself in the other tests: a shell in
        // its loop blocks signals for a moment around each fork.)
        run.signal(Signal::SIGTERM);
        let (code, log) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "blocked {block:?}, ignored {ignore:?}: {log}");
        assert!(log.contains("SIGTERM received"), "{log}");
    }
}

#[test]
fn exec_hands_on_an_empty_mask_and_default_dispositions() {
    let server = DevServer::start();
    for (block, ignore) in [(HOSTILE, ""), ("", HOSTILE)] {
        let (out, _) = run(
            under_parent(block, ignore).args([
                "exec",
                "--address",
                &server.address(),
                "--",
                "cat",
                "/proc/self/status",
            ]),
            LIMIT,
        );
        assert_eq!(code_of(&out), 0, "{}", stderr(&out));
        assert_clean_start(
            &format!("worker of exec (blocked {block:?}, ignored {ignore:?})"),
            &String::from_utf8_lossy(&out.stdout),
        );
    }
}
