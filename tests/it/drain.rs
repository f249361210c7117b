//! A stop drains the worker through its endpoint: no new work reaches it, the work it holds is
//! finished once, its sticky queue is released, then it gets the stop signal; `run` exits 0
//! for that orderly stop. The workers are the Python SDK's at its defaults (no signal handler:
//! SIGTERM kills them at once, as most workers ship), against real dev servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::Signal;

use crate::common::slow_ts::{COMPLETE_POLLS, count, executions, ids};
use crate::common::*;

/// Starts `workflow(seconds)` on `queue` with these ids, without waiting for them.
fn start(server: &DevServer, queue: &str, workflow: &str, seconds: u32, ids: &[String]) {
    for id in ids {
        let out = server.cli(&[
            "workflow",
            "start",
            "--task-queue",
            queue,
            "--type",
            workflow,
            "--workflow-id",
            id,
            "--input",
            &seconds.to_string(),
        ]);
        assert!(out.status.success(), "start {id}: {}", stderr(&out));
    }
}

/// Waits for each workflow's result; fails the test unless each completed.
fn results(server: &DevServer, ids: &[String]) {
    for id in ids {
        let out = server.cli(&["workflow", "result", "--workflow-id", id]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("COMPLETED"),
            "{id}: {text}{}",
            stderr(&out)
        );
    }
}

/// A worker run bare on the server (the surge pod of a rolling update), until dropped.
struct Bare {
    child: Child,
    out: PathBuf,
    _scratch: Scratch,
}

impl Bare {
    fn start(server: &DevServer, queue: &str, executions: &Path) -> Bare {
        let scratch = Scratch::new("bare-worker");
        let out = scratch.path("output");
        let file = std::fs::File::create(&out).unwrap();
        let worker = slow_worker(queue, executions);
        let child = Command::new(&worker[0])
            .args(&worker[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TEMPORAL_ADDRESS", server.address())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start the surge worker");
        let bare = Bare {
            child,
            out,
            _scratch: scratch,
        };
        eventually("the surge worker to poll", PATIENCE, || {
            std::fs::read_to_string(&bare.out).is_ok_and(|o| o.contains("polling"))
        });
        bare
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `run` of the slow worker at the SDK's defaults on `queue`, with `args`.
fn supervised(server: &DevServer, queue: &str, executions: &Path, args: &[&str]) -> Supervised {
    let mut worker = slow_worker(queue, executions);
    worker.push("--sdk-defaults".into());
    let address = server.address();
    let mut all = vec!["run", "--address", &address, "--task-queue", queue];
    all.extend(args);
    let run = Supervised::start(&all, &words(&worker));
    run.wait_for_log("worker is polling", 1, PATIENCE);
    run
}

fn metric(health: u16, line_start: &str) -> f64 {
    let (_, text) = http_get(health, "/metrics");
    text.lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_rollout_finishes_the_work_in_flight_once_and_the_new_work_goes_to_the_new_pod() {
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-rollout");
    let log = scratch.path("executions");
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let mut old = supervised(
        &server,
        "rollout",
        &log,
        &["--stop-timeout", "40s", "--health-listen", &listen],
    );
    let old_pid = old.worker_pids()[0];
    let first = ids("first", 5);
    start(&server, "rollout", "SlowWork", 6, &first);
    eventually("five activities in flight", PATIENCE, || {
        count(&log, "start", &first) == 5
    });
    // The SDK asks for eager activities: some of these came with their workflow task's
    // completion, not from a poll.
    let eager = metric(
        health,
        "temporal_supervisor_endpoint_tasks_delivered_total{worker=\"worker\",replica=\"1\",kind=\"activity\",via=\"completion\"}",
    );
    assert!(eager >= 1.0, "eager activities delivered: {eager}");
    let surge = Bare::start(&server, "rollout", &log);
    old.signal(Signal::SIGTERM);
    let draining = old.wait_for_log("draining:", 1, PATIENCE);
    assert!(draining.contains("5 activity in flight"), "{draining}");
    assert!(
        draining.contains("open polls completed by Temporal (ShutdownWorker)"),
        "{draining}"
    );
    let (code, _) = http_get(health, "/readyz");
    assert_eq!(code, 503, "not ready while draining");
    let second = ids("second", 5);
    start(&server, "rollout", "SlowWork", 1, &second);
    let (code, text) = old.wait_exit(PATIENCE);
    assert_eq!(code, 0, "an orderly stop: {text}");
    assert!(text.contains("drain completed"), "{text}");
    assert!(text.contains("5 finished"), "{text}");
    results(&server, &first);
    results(&server, &second);
    let all = executions(&log);
    for id in &first {
        let runs: Vec<_> = all.iter().filter(|e| &e.workflow == id).collect();
        assert_eq!(runs.len(), 2, "{id} started and done once: {all:?}");
        assert!(
            runs.iter().all(|e| e.attempt == 1 && e.pid == old_pid),
            "{all:?}"
        );
    }
    for id in &second {
        assert!(
            all.iter()
                .filter(|e| &e.workflow == id)
                .all(|e| e.pid == surge.pid()),
            "{id} ran on the new pod only: {all:?}"
        );
    }
}

#[test]
fn a_heartbeating_activity_keeps_beating_through_the_drain() {
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-heartbeat");
    let log = scratch.path("executions");
    let mut run = supervised(&server, "beats", &log, &["--stop-timeout", "30s"]);
    let beating = ids("beating", 1);
    // Six seconds with a 3 s heartbeat timeout: it fails unless its heartbeats get through.
    start(&server, "beats", "HeartbeatWork", 6, &beating);
    eventually("the activity in flight", PATIENCE, || {
        count(&log, "start", &beating) == 1
    });
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("drain completed"), "{text}");
    // The next pod finishes the workflow.
    let _next = Bare::start(&server, "beats", &log);
    results(&server, &beating);
    let all = executions(&log);
    assert_eq!(all.len(), 2, "started and done once: {all:?}");
    assert!(all.iter().all(|e| e.attempt == 1), "{all:?}");
}

#[test]
fn an_activity_that_outlasts_the_drain_is_abandoned_at_its_deadline() {
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-deadline");
    let log = scratch.path("executions");
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    // The stop signal is one the SDK's worker ignores, so that the process outlives it until
    // SIGKILL and its metrics can be read in between.
    let mut run = supervised(
        &server,
        "long",
        &log,
        &[
            "--stop-timeout",
            "6s",
            "--stop-grace",
            "3s",
            "--stop-signal",
            "SIGWINCH",
            "--health-listen",
            &listen,
        ],
    );
    let long = ids("long", 1);
    start(&server, "long", "SlowWork", 60, &long);
    eventually("the activity in flight", PATIENCE, || {
        count(&log, "start", &long) == 1
    });
    run.signal(Signal::SIGTERM);
    let text = run.wait_for_log("sent SIGWINCH", 1, PATIENCE);
    assert!(text.contains("drain ended by its deadline"), "{text}");
    assert!(text.contains("1 activity abandoned"), "{text}");
    let abandoned = metric(
        health,
        "temporal_supervisor_drain_tasks_total{worker=\"worker\",replica=\"1\",outcome=\"abandoned\"}",
    );
    assert_eq!(abandoned, 1.0);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 137, "killed at the end of the stop timeout: {text}");
    assert_eq!(count(&log, "done", &long), 0);
}

#[test]
fn a_second_sigterm_skips_the_rest_of_the_drain() {
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-twice");
    let log = scratch.path("executions");
    let mut run = supervised(&server, "twice", &log, &["--stop-timeout", "60s"]);
    let long = ids("twice", 1);
    start(&server, "twice", "SlowWork", 60, &long);
    eventually("the activity in flight", PATIENCE, || {
        count(&log, "start", &long) == 1
    });
    run.signal(Signal::SIGTERM);
    run.wait_for_log("draining:", 1, PATIENCE);
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert!(text.contains("the rest of the drain is skipped"), "{text}");
    assert!(text.contains("cut short by a second stop signal"), "{text}");
    assert!(text.contains("1 activity abandoned"), "{text}");
    assert_eq!(code, 143, "ended by SIGTERM with work abandoned: {text}");
}

#[test]
fn temporal_lost_during_a_drain_loses_no_count() {
    let mut server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-outage");
    let log = scratch.path("executions");
    let mut run = supervised(&server, "outage", &log, &["--stop-timeout", "60s"]);
    let work = ids("outage", 3);
    start(&server, "outage", "SlowWork", 5, &work);
    eventually("three activities in flight", PATIENCE, || {
        count(&log, "start", &work) == 3
    });
    run.signal(Signal::SIGTERM);
    run.wait_for_log("draining:", 1, PATIENCE);
    server.kill();
    // The activities finish while Temporal is gone; their completions wait for it.
    eventually("the activities to finish", PATIENCE, || {
        count(&log, "done", &work) == 3
    });
    server.spawn();
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("drain completed"), "{text}");
    assert!(
        text.contains("3 finished"),
        "the SDK's retried completions counted: {text}"
    );
    let _next = Bare::start(&server, "outage", &log);
    results(&server, &work);
    assert!(
        executions(&log).iter().all(|e| e.attempt == 1),
        "each ran once: {:?}",
        executions(&log)
    );
}

#[test]
fn several_workers_drain_in_parallel() {
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-several");
    let log = scratch.path("executions");
    let mut file = String::from("stop_timeout = \"60s\"\n");
    for queue in ["left", "right"] {
        let mut worker = slow_worker(queue, &log);
        worker.push("--sdk-defaults".into());
        let command: Vec<String> = worker.iter().map(|w| format!("{w:?}")).collect();
        file.push_str(&format!(
            "[workers.{queue}]\ncommand = [{}]\ntask_queues = [\"{queue}\"]\n",
            command.join(", ")
        ));
    }
    let config = scratch.path("supervisor.toml");
    std::fs::write(&config, file).unwrap();
    let mut cmd = supervisor();
    cmd.args(["run", "--address", &server.address(), "--config"])
        .arg(&config);
    let mut run = Supervised::start_plain(cmd);
    run.wait_for_log("worker is polling", 2, PATIENCE);
    let (left, right) = (ids("left", 1), ids("right", 1));
    start(&server, "left", "SlowWork", 5, &left);
    start(&server, "right", "SlowWork", 5, &right);
    eventually("both activities in flight", PATIENCE, || {
        count(&log, "start", &left) + count(&log, "start", &right) == 2
    });
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    // Both drains began before either ended.
    let first_end = text.find("drain completed").expect("a drain completed");
    assert_eq!(text[..first_end].matches("draining:").count(), 2, "{text}");
    assert_eq!(text.matches("drain completed").count(), 2, "{text}");
    let _next = (
        Bare::start(&server, "left", &log),
        Bare::start(&server, "right", &log),
    );
    results(&server, &left);
    results(&server, &right);
}

#[test]
fn a_worker_that_ignores_its_endpoint_is_named_once_and_works_as_before() {
    let server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    // Its address written in its command: it connects to the server, not to the endpoint.
    let mut worker = vec![
        "env".to_string(),
        format!("TEMPORAL_ADDRESS={}", server.address()),
    ];
    worker.extend(plain_worker("documents", &[]));
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--task-queue",
            "documents",
            "--health-listen",
            &listen,
        ],
        &words(&worker),
    );
    let text = run.wait_for_log("polls Temporal directly", 1, PATIENCE);
    assert!(text.contains("it cannot be drained on stop"), "{text}");
    eventually("/readyz 200, proven at the server", PATIENCE, || {
        http_get(health, "/readyz").0 == 200
    });
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.matches("polls Temporal directly").count(), 1, "{text}");
}

#[test]
fn without_the_capability_open_polls_get_a_moment_then_end_with_the_worker() {
    let server = DevServer::start_persistent();
    let scratch = Scratch::new("drain-no-capability");
    let log = scratch.path("executions");
    let mut run = supervised(
        &server,
        "plain",
        &log,
        &["--stop-timeout", "30s", "--drain-poll-wait", "1s"],
    );
    let work = ids("plain", 1);
    start(&server, "plain", "SlowWork", 4, &work);
    eventually("the activity in flight", PATIENCE, || {
        count(&log, "start", &work) == 1
    });
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("open polls left 1s to end by themselves"),
        "{text}"
    );
    assert!(text.contains("drain completed"), "{text}");
    assert!(
        text.contains("polls still open end with the worker"),
        "{text}"
    );
    assert_eq!(count(&log, "done", &work), 1, "finished before the stop");
}

#[test]
fn a_worker_that_shuts_down_as_the_docs_advise_gets_its_held_polls_back() {
    // Its SIGTERM handler calls the SDK's shutdown, which waits for its polls to end where the
    // namespace completes them on shutdown: the held ones are answered once the drain is over.
    let server = DevServer::start_persistent_with(&[COMPLETE_POLLS]);
    let scratch = Scratch::new("drain-graceful");
    let log = scratch.path("executions");
    let address = server.address();
    let mut run = Supervised::start(
        &[
            "run",
            "--address",
            &address,
            "--task-queue",
            "graceful",
            "--stop-timeout",
            "60s",
        ],
        &words(&slow_worker("graceful", &log)),
    );
    run.wait_for_log("worker is polling", 1, PATIENCE);
    let work = ids("graceful", 1);
    start(&server, "graceful", "SlowWork", 3, &work);
    eventually("the activity in flight", PATIENCE, || {
        count(&log, "start", &work) == 1
    });
    run.signal(Signal::SIGTERM);
    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("drain completed"), "{text}");
    assert!(
        !text.contains("SIGKILL to the worker"),
        "it stopped by itself: {text}"
    );
    assert_eq!(count(&log, "done", &work), 1);
}
