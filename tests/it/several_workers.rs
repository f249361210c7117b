//! Several workers under one supervisor, from the config file: one wait for Temporal, one
//! restart of them all when it is lost (`--on-disconnect restart`), each worker's own exits handled alone, a stop of all
//! in parallel, the exit-code rule, `optional` and `replicas`, per-worker health, and the
//! seed's five example workers in one command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::sys::signal::Signal;

/// Writes `toml` to a file in `scratch`; returns its path.
fn config(scratch: &Scratch, toml: &str) -> String {
    let path = scratch.path("supervisor.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_string_lossy().into_owned()
}

/// `run --config FILE` against `server` (no command after --).
fn run_file(server: &DevServer, file: &str, extra: &[&str]) -> Supervised {
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_ADDRESS", server.address())
        .args(["run", "--config", file])
        .args(extra);
    Supervised::start_plain(cmd)
}

/// A shell worker that writes "start PID" to `log` once its trap is set and, on SIGTERM, "stop PID" and exits with
/// `code`.
fn stoppable(log: &Path, code: i32) -> String {
    format!(
        r#"["sh", "-c", "trap 'echo stop $$ >> {log}; exit {code}' TERM; echo start $$ >> {log}; while :; do sleep 0.05; done"]"#,
        log = log.display()
    )
}

fn lines(path: &Path, prefix: &str) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
        .collect()
}

fn pids_of(log: &str, worker: &str) -> Vec<i32> {
    log.lines()
        .filter(|l| l.contains("worker started") && l.contains(&format!("worker={worker} ")))
        .filter_map(|l| {
            l.split("child_pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn one_crash_restarts_only_that_worker_and_a_server_restart_restarts_all() {
    let mut server = DevServer::start();
    let scratch = Scratch::new("several");
    let steady = scratch.path("steady.log");
    let file = config(
        &scratch,
        &format!(
            r#"
[workers.steady]
command = {steady}

[workers.crashy]
command = ["sh", "-c", "exit 3"]
restart_delay = "200ms"
"#,
            steady = stoppable(&steady, 0)
        ),
    );
    let run = run_file(&server, &file, &["--on-disconnect", "restart"]);
    let log = run.wait_for_log("restart 4 in", 1, PATIENCE);
    assert_eq!(
        pids_of(&log, "steady").len(),
        1,
        "steady was left alone: {log}"
    );
    assert!(lines(&steady, "stop ").is_empty(), "{log}");
    // The crashing worker backs off: 0.2, 0.4, 0.8 s...
    for (n, delay) in [(1, "200ms"), (2, "400ms"), (3, "800ms")] {
        let line = format!("restart {n} in");
        let found = log
            .lines()
            .find(|l| l.contains(&line))
            .unwrap_or_else(|| panic!("{line}: {log}"));
        let shown = found
            .split(&line)
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let ms = |t: &str| -> f64 {
            t.strip_suffix("ms")
                .map(|v| v.parse::<f64>().unwrap())
                .unwrap_or_else(|| t.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0)
        };
        assert!(
            ms(shown) <= ms(delay) && ms(shown) >= 0.8 * ms(delay),
            "restart {n} after {shown}, not about {delay}"
        );
    }

    // Temporal goes away and comes back: every worker that runs is stopped and started again
    // (--on-disconnect restart).
    server.kill();
    eventually("steady to be stopped", PATIENCE, || {
        lines(&steady, "stop ").len() == 1
    });
    server.spawn();
    eventually("steady to start again", PATIENCE, || {
        lines(&steady, "start ").len() == 2
    });
    let log = run.log();
    assert!(
        log.contains("every worker stopped; waiting for Temporal to come back"),
        "{log}"
    );
}

#[test]
fn sigterm_stops_every_worker_in_parallel_and_the_first_failure_is_the_exit_code() {
    let server = DevServer::start();
    let scratch = Scratch::new("several-stop");
    let (a, b, c) = (
        scratch.path("a.log"),
        scratch.path("b.log"),
        scratch.path("c.log"),
    );
    // b and c ignore SIGTERM and need SIGKILL after 2 s and 3 s; a stops cleanly with 5.
    let stubborn = |log: &Path| {
        format!(
            r#"["sh", "-c", "trap '' TERM; echo start $$ >> {log}; (trap '' TERM; sleep 1000) & while :; do sleep 0.05; done"]"#,
            log = log.display()
        )
    };
    let file = config(
        &scratch,
        &format!(
            r#"
[workers.a]
command = {a}

[workers.b]
command = {b}
stop_timeout = "2s"

[workers.c]
command = {c}
stop_timeout = "3s"
"#,
            a = stoppable(&a, 5),
            b = stubborn(&b),
            c = stubborn(&c),
        ),
    );
    let mut run = run_file(&server, &file, &[]);
    eventually("the three workers to run", PATIENCE, || {
        [&a, &b, &c].iter().all(|f| lines(f, "start ").len() == 1)
    });
    let groups: Vec<i32> = [&a, &b, &c].iter().map(|f| lines(f, "start ")[0]).collect();
    eventually("the grandchildren to start", PATIENCE, || {
        groups[1..].iter().all(|&g| !children_of(g).is_empty())
    });
    let asked = Instant::now();
    run.signal(Signal::SIGTERM);
    let (code, log) = run.wait_exit(PATIENCE);
    let took = asked.elapsed();
    // In parallel: the longest stop timeout (3 s), not their sum (5 s).
    assert!(took >= Duration::from_millis(2900), "{took:?}: {log}");
    assert!(
        took < Duration::from_millis(4800),
        "stopped one after another? {took:?}: {log}"
    );
    // a exited 5, b and c were killed (137): a is first in the file.
    assert_eq!(code, 5, "{log}");
    for g in groups {
        assert!(!group_alive(g), "a process of group {g} survived: {log}");
    }
}

#[test]
fn a_failing_worker_ends_run_with_its_code_unless_optional() {
    let server = DevServer::start();
    let scratch = Scratch::new("several-fail");
    let (steady, side) = (scratch.path("steady.log"), scratch.path("side.log"));
    let file = config(
        &scratch,
        &format!(
            r#"
[workers.steady]
command = {steady}

[workers.side]
command = {side}

[workers.extra]
command = ["sh", "-c", "sleep 1; exit 4"]
restart = "never"
optional = true

[workers.failing]
command = ["sh", "-c", "sleep 3; exit 9"]
restart = "never"
"#,
            steady = stoppable(&steady, 0),
            side = stoppable(&side, 0),
        ),
    );
    let mut run = run_file(&server, &file, &[]);
    let log = run.wait_for_log("optional worker ended; run goes on", 1, PATIENCE);
    assert!(lines(&steady, "stop ").is_empty(), "{log}");
    let (code, log) = run.wait_exit(PATIENCE);
    assert_eq!(code, 9, "the failing worker's code: {log}");
    assert!(
        log.contains("worker failing ended with code 9; stopping the others"),
        "{log}"
    );
    assert_eq!(
        lines(&steady, "stop ").len(),
        1,
        "stopped gracefully: {log}"
    );
    assert_eq!(lines(&side, "stop ").len(), 1, "stopped gracefully: {log}");
}

#[test]
fn replicas_and_per_worker_health() {
    let server = DevServer::start();
    let scratch = Scratch::new("several-replicas");
    let health = free_port();
    let file = config(
        &scratch,
        r#"
[workers.pool]
command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"]
replicas = 3

[workers.late]
command = ["sh", "-c", "sleep 2; trap 'exit 0' TERM; while :; do sleep 0.05; done"]
optional = true

[workers.flaky]
command = ["sh", "-c", "exit 3"]
optional = true
restart_delay = "100ms"
restart_max_delay = "200ms"
"#,
    );
    let listen = format!("127.0.0.1:{health}");
    let run = run_file(&server, &file, &["--health-listen", &listen]);
    let log = run.wait_for_log("worker started", 5, PATIENCE);
    let pids = pids_of(&log, "pool[1]")
        .into_iter()
        .chain(pids_of(&log, "pool[2]"))
        .chain(pids_of(&log, "pool[3]"))
        .collect::<Vec<_>>();
    assert_eq!(pids.len(), 3, "three replicas, each its own process: {log}");
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    let (_, body) = http_get(health, "/readyz");
    assert_eq!(body.matches("\"name\":\"pool\"").count(), 3, "{body}");
    assert!(body.contains("\"replica\":3"), "{body}");
    // Every worker process is listed, optional ones marked; a crash-looping optional worker
    // is in plain sight without making the whole unready.
    assert!(
        body.contains("\"name\":\"late\",\"replica\":1,\"optional\":true"),
        "{body}"
    );
    assert!(
        body.contains("\"name\":\"pool\",\"replica\":1,\"optional\":false"),
        "{body}"
    );
    eventually("the crash loop listed in /readyz", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        let flaky = body
            .split("\"name\":\"flaky\",\"replica\":1,\"optional\":true")
            .nth(1)
            .unwrap_or("");
        let restarts = flaky
            .split("\"restarts\":")
            .nth(1)
            .and_then(|r| r.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        assert_eq!(
            code, 200,
            "an optional worker never decides readiness: {body}"
        );
        restarts >= 2
    });
    let (code, _) = http_get(health, "/readyz?worker=flaky");
    assert_eq!(
        code, 503,
        "asked about, the crash-looping worker is not ready"
    );
    let (code, body) = http_get(health, "/readyz?worker=late");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"name\":\"late\"") && !body.contains("\"name\":\"pool\""),
        "{body}"
    );
    assert_eq!(http_get(health, "/readyz?worker=nobody").0, 404);

    let (_, metrics) = http_get(health, "/metrics");
    for replica in 1..=3 {
        let line =
            format!("temporal_supervisor_child_up{{worker=\"pool\",replica=\"{replica}\"}} 1");
        assert!(metrics.contains(&line), "{line}: {metrics}");
    }
    // `status --worker NAME` asks about one worker.
    for (worker, expected) in [("pool", 0), ("late", 0), ("nobody", 1)] {
        let (out, _) =
            run_cmd(supervisor().args(["status", "--health-listen", &listen, "--worker", worker]));
        assert_eq!(
            code_of(&out),
            expected,
            "status --worker {worker}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn prefixed_lines_never_interleave() {
    let server = DevServer::start();
    let scratch = Scratch::new("several-output");
    // Each worker writes 10,000 numbered lines as fast as it can, then a last one without a
    // newline, on stdout and stderr alike.
    let printer = |tag: &str| {
        format!(
            r#"["sh", "-c", "seq -f '{tag}-%g' 1 10000; seq -f '{tag}-err-%g' 1 100 >&2; printf '{tag}-end'"]"#
        )
    };
    let file = config(
        &scratch,
        &format!(
            r#"
restart = "never"

[workers.alpha]
command = {a}

[workers.beta]
command = {b}
"#,
            a = printer("A"),
            b = printer("B"),
        ),
    );
    let mut cmd = supervisor();
    cmd.env("TEMPORAL_ADDRESS", server.address())
        .args(["run", "--config", &file]);
    let (out, _) = run_cmd(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    // Names are padded to the longest, so that the lines line up.
    for (prefix, tag) in [("alpha | ", "A"), ("beta  | ", "B")] {
        let mine: Vec<&str> = stdout.lines().filter(|l| l.starts_with(prefix)).collect();
        let expected: Vec<String> = (1..=10_000)
            .map(|n| format!("{prefix}{tag}-{n}"))
            .chain([format!("{prefix}{tag}-end")])
            .collect();
        assert_eq!(mine.len(), expected.len(), "{prefix}: every line, once");
        if let Some(n) = (0..mine.len()).find(|&n| mine[n] != expected[n]) {
            panic!(
                "line {n} of {prefix}: {:?}, expected {:?}",
                mine[n], expected[n]
            );
        }
        let errors = stderr(&out)
            .lines()
            .filter(|l| l.starts_with(&format!("{prefix}{tag}-err-")))
            .count();
        assert_eq!(errors, 100, "{prefix}: stderr lines");
    }
    assert_eq!(
        stdout.lines().count(),
        20_002,
        "nothing else, nothing mixed"
    );
}

#[test]
fn the_seed_five_workers_come_up_after_a_late_server_and_poll() {
    let port = free_port();
    let mut server = DevServer::unstarted(port);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/workers/supervisor.toml");
    let venv = python().parent().unwrap().to_path_buf();
    let health = free_port();
    let mut cmd = supervisor();
    // `python3` in the file is the project's virtualenv's, as a user's would be theirs.
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            venv.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{port}"))
    .args(["run", "--config", &file.to_string_lossy()])
    .args(["--health-listen", &format!("127.0.0.1:{health}")]);
    let run = Supervised::start_plain(cmd);
    run.wait_for_log("Temporal not ready", 1, PATIENCE);
    assert_eq!(run.log().matches("worker started").count(), 0);
    server.spawn();
    let log = run.wait_for_log("worker is polling", 5, PATIENCE);
    for worker in ["documents", "chat", "s3", "azure", "webhooks"] {
        assert!(
            log.contains(&format!("worker is polling worker={worker} ")),
            "{worker}: {log}"
        );
    }
    eventually("/readyz 200", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    for (queue, workflow, input, expected) in [
        (
            "documents",
            "ProcessDocument",
            "scan.pdf",
            "scan.pdf: 16 characters",
        ),
        ("chat-sessions", "ChatTurn", "hello", "echo: hello"),
        (
            "s3-events",
            "HandleS3Event",
            "bucket/key",
            "s3://bucket/key: 10 bytes",
        ),
        (
            "azure-blobs",
            "HandleBlobEvent",
            "blob-1",
            "blob blob-1: 6 bytes",
        ),
    ] {
        let result = server.execute(queue, workflow, input);
        assert!(result.contains(expected), "{queue}: {result}");
    }
    // Workers' own lines carry their names.
    assert!(log.contains("documents | documents worker "), "{log}");
}

#[test]
fn json_logs_wrap_each_workers_lines() {
    let server = DevServer::start();
    let scratch = Scratch::new("several-json");
    let file = config(
        &scratch,
        r#"
restart = "never"

[workers.alpha]
command = ["sh", "-c", "echo 'one \"quoted\" line'; echo oops >&2"]

[workers.beta]
command = ["sh", "-c", "printf 'no newline'"]
"#,
    );
    let (out, _) = run_cmd(supervisor().args([
        "run",
        "--address",
        &server.address(),
        "--config",
        &file,
        "--log-format",
        "json",
    ]));
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (worker, message) in [("alpha", "one \\\"quoted\\\" line"), ("beta", "no newline")] {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("\"worker\":\"{worker}\"")))
            .unwrap_or_else(|| panic!("{worker}: {stdout}"));
        assert!(
            line.starts_with("{\"time\":\"") && line.ends_with('}'),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"message\":\"{message}\"")),
            "{line}"
        );
        assert!(
            line.contains("\"stream\":\"stdout\"") && line.contains("\"replica\":1"),
            "{line}"
        );
    }
    assert!(
        stderr(&out).contains(
            "\"worker\":\"alpha\",\"replica\":1,\"stream\":\"stderr\",\"message\":\"oops\""
        ),
        "{}",
        stderr(&out)
    );
}
