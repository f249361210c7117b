//! No orphaned worker: when the supervisor dies without stopping its worker (SIGKILL, the OOM
//! killer), the worker gets the stop signal at once; as PID 1 the kernel ends the namespace.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::sys::signal::Signal;

fn trapping_worker(scratch: &Scratch, signal: &str) -> String {
    format!(
        "trap 'echo {signal} > {got}; exit 0' {signal}; echo $$ > {got}.pid; \
         while :; do sleep 0.05; done",
        got = scratch.path("got").display()
    )
}

#[test]
fn a_killed_supervisor_takes_its_worker_down_with_the_stop_signal() {
    let server = DevServer::start();
    let scratch = Scratch::new("orphan");
    let script = trapping_worker(&scratch, "USR1");
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--stop-signal",
            "SIGUSR1",
        ],
        &["sh", "-c", &script],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to set its trap", PATIENCE, || {
        scratch.read("got.pid").trim().parse::<i32>().is_ok()
    });
    let worker: i32 = scratch.read("got.pid").trim().parse().unwrap();
    // Should the worker be orphaned after all, the test must not leave it running.
    let _reaper = KillOnDrop(worker);

    let killed = Instant::now();
    run.signal(Signal::SIGKILL);
    eventually("the worker to get the stop signal", PATIENCE, || {
        scratch.read("got").contains("USR1")
    });
    let took = killed.elapsed();
    // The requirement is within 1 s; the bound is generous for a loaded machine, and an
    // orphaned worker would never get it at all.
    assert!(
        took < Duration::from_secs(10),
        "the stop signal came {took:?} after the supervisor died"
    );
    eventually("the worker to exit", PATIENCE, || !alive(worker));
}

struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

#[test]
fn as_pid_1_the_worker_ends_with_the_namespace() {
    let server = DevServer::start();
    let scratch = Scratch::new("orphan-pid1");
    let script = trapping_worker(&scratch, "TERM");
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            BIN,
            "run",
        ]);
    let mut run = Supervised::start_with(
        cmd,
        &["--address", &server.address()],
        &["sh", "-c", &script],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to set its trap", PATIENCE, || {
        scratch.read("got.pid").trim().parse::<i32>().is_ok()
    });
    // The worker's pid inside the namespace is not ours to signal; find the supervisor (PID 1
    // of the namespace) as unshare's child and kill it from outside.
    let pid1 = *children_of(run.pid())
        .first()
        .expect("unshare's child is the supervisor");
    let worker = *children_of(pid1).first().expect("the supervisor's worker");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid1), Signal::SIGKILL).unwrap();
    let _ = run.wait_exit(PATIENCE);
    eventually("the worker to be gone with its namespace", PATIENCE, || {
        !alive(worker)
    });
    assert!(
        scratch.read("got").is_empty(),
        "the kernel kills a namespace's processes outright; no stop signal is delivered"
    );
}
