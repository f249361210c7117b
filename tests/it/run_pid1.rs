//! `run` as PID 1 in its own PID namespace, and as a child subreaper: forwarded signals reach
//! the worker, orphans are reaped, and the worker's exit status is never stolen.

use std::process::Command;

use crate::common::*;
use nix::sys::signal::Signal;

/// `temporal-supervisor` as PID 1 of a new PID namespace (with its own /proc).
fn as_pid1() -> Command {
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
        .args(["--pid", "--fork", "--mount-proc", BIN, "run"]);
    cmd
}

#[test]
fn forwarded_signals_reach_the_worker_when_pid_1() {
    let server = DevServer::start();
    let scratch = Scratch::new("pid1-signals");
    let got = scratch.path("got");
    let script = format!(
        "for s in HUP USR1 USR2 WINCH QUIT; do trap \"echo $s >> {got}\" $s; done; \
         echo ppid=$PPID > {got}.pid; while :; do sleep 0.05; done",
        got = got.display()
    );
    let mut run = Supervised::start_with(
        as_pid1(),
        &["--address", &server.address()],
        &["sh", "-c", &script],
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("the worker to report its pid", PATIENCE, || {
        scratch.read("got.pid").contains("ppid=")
    });
    assert_eq!(
        scratch.read("got.pid").trim(),
        "ppid=1",
        "the supervisor must be PID 1, the worker's parent"
    );

    let supervisor = children_of(run.pid());
    assert_eq!(supervisor.len(), 1, "unshare forks exactly the supervisor");
    let signals = [
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGQUIT,
    ];
    for (i, signal) in signals.iter().enumerate() {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor[0]), *signal).unwrap();
        eventually(&format!("{signal} to reach the worker"), PATIENCE, || {
            scratch.read("got").lines().count() > i
        });
    }
    assert_eq!(scratch.read("got"), "HUP\nUSR1\nUSR2\nWINCH\nQUIT\n");
    let log = run.log();
    assert!(log.contains("forwarded SIGWINCH to the worker"), "{log}");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor[0]), Signal::SIGTERM).unwrap();
    let (code, log) = run.wait_exit(PATIENCE);
    // Drained (it held nothing), then ended by the stop signal: an orderly stop.
    assert_eq!(code, 0, "an orderly stop; log:\n{log}");
    assert!(log.contains("drain completed"), "{log}");
}

/// A worker that orphans 200 children, waits for them to die, then counts zombies that
/// belong to `parent` and exits 7 when there are none (100 + count otherwise).
fn orphan_maker(parent: &str) -> String {
    format!(
        "(for i in $(seq 200); do sleep 0.2 & done); sleep 2; \
         n=$(for f in /proc/[0-9]*/status; do awk -v p={parent} \
         '/^State:/{{s=$2}} /^PPid:/{{pp=$2}} END{{if (s==\"Z\" && pp==p) print \"Z\"}}' $f 2>/dev/null; done | wc -l); \
         echo zombies=$n; if [ $n -eq 0 ]; then exit 7; else exit $((100 + n)); fi"
    )
}

/// The worker found no zombie of its orphans, and its own exit code came out of `run`.
fn assert_orphans_reaped(mut run: Supervised) {
    let (code, log) = run.wait_exit(PATIENCE);
    assert!(log.contains("zombies=0"), "{log}");
    assert_eq!(
        code, 7,
        "the worker's own exit code must come through; log:\n{log}"
    );
}

#[test]
fn orphans_are_reaped_when_pid_1() {
    let server = DevServer::start();
    assert_orphans_reaped(Supervised::start_with(
        as_pid1(),
        &["--address", &server.address(), "--restart", "never"],
        &["sh", "-c", &orphan_maker("1")],
    ));
}

#[test]
fn orphans_are_reaped_as_a_subreaper() {
    let server = DevServer::start();
    assert_orphans_reaped(Supervised::start(
        &["run", "--address", &server.address(), "--restart", "never"],
        &["sh", "-c", &orphan_maker("$PPID")],
    ));
}

#[test]
fn exit_codes_come_out_of_run() {
    let server = DevServer::start();
    let cases: [(&str, i32); 5] = [
        ("exit 0", 0),
        ("exit 3", 3),
        ("exit 42", 42),
        ("exit 255", 255),
        ("kill -9 $$", 137),
    ];
    for (script, expected) in cases {
        let mut run = Supervised::start(
            &["run", "--address", &server.address(), "--restart", "never"],
            &["sh", "-c", script],
        );
        let (code, log) = run.wait_exit(PATIENCE);
        assert_eq!(code, expected, "{script}; log:\n{log}");
    }
    // The default policy (on-failure) does not restart a worker that exits 0.
    let mut run = Supervised::start(&["run", "--address", &server.address()], &["true"]);
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert_eq!(log.matches("worker started").count(), 1, "{log}");
}

#[test]
fn the_worker_starts_with_a_clean_signal_mask_in_its_own_group() {
    let server = DevServer::start();
    let mut run = Supervised::start(
        &["run", "--address", &server.address(), "--restart", "never"],
        &[
            "sh",
            "-c",
            "grep -E '^Sig(Blk|Ign)' /proc/self/status; echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$",
        ],
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("SigBlk:\t0000000000000000"),
        "blocked signals: {log}"
    );
    assert!(
        log.contains("SigIgn:\t0000000000000000"),
        "ignored signals: {log}"
    );
    let line = log
        .lines()
        .find(|l| l.starts_with("pgid="))
        .expect("pgid line");
    let (pgid, pid) = line
        .trim_start_matches("pgid=")
        .split_once(" pid=")
        .unwrap();
    assert_eq!(
        pgid.trim(),
        pid.trim(),
        "the worker leads its own process group"
    );
}

#[test]
fn a_command_that_cannot_start_exits_127_or_126() {
    let server = DevServer::start();
    let mut run = Supervised::start(
        &["run", "--address", &server.address()],
        &["no-such-worker-4711"],
    );
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 127, "{log}");
    assert!(
        log.contains("no-such-worker-4711: command not found"),
        "{log}"
    );
}
