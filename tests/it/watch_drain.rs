//! `watch` with an endpoint (`--endpoint-listen`): the pod's worker connects to the sidecar on
//! loopback instead of Temporal, its polls through the endpoint prove it ready, and the worker
//! container's `preStop` hook drains it with `GET /drain` on the health port, as the kubelet's
//! `httpGet` makes it. Each pod is stood in for by a UTS namespace of its own ([`Pod`]), the
//! workers are real Python SDK workers (tests/workers), and the servers are real dev servers.

use std::process::Child;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common::pod::Pod;
use crate::common::slow_ts::*;
use crate::common::*;

const QUEUE: &str = "drained";

/// `watch` in `pod` for `QUEUE`, serving the pod's worker an endpoint on `endpoint`; waits
/// until its health port and its endpoint listen.
fn sidecar(
    pod: &Pod,
    server: &DevServer,
    (health, endpoint): (u16, u16),
    extra: &[&str],
) -> Supervised {
    let mut cmd = pod.supervisor();
    cmd.args([
        "watch",
        "--address",
        &server.address(),
        "--health-listen",
        &format!("127.0.0.1:{health}"),
        "--endpoint-listen",
        &format!("127.0.0.1:{endpoint}"),
        "--task-queue",
        QUEUE,
        "--probe-interval",
        "1s",
    ])
    .args(extra);
    let sidecar = Supervised::start_plain(cmd);
    sidecar.wait_for_log("the worker's local Temporal endpoint listens", 1, PATIENCE);
    eventually("the sidecar's health port", PATIENCE, || port_open(health));
    sidecar
}

fn readyz(health: u16) -> (u16, String) {
    http_get(health, "/readyz")
}

/// `GET /drain` on another thread (it answers once the drain is over).
fn ask_drain(health: u16) -> std::thread::JoinHandle<(u16, String)> {
    std::thread::spawn(move || http_get(health, "/drain"))
}

/// The one worker of a `/drain` answer, after checking the rest of it.
fn drained_worker(answer: &(u16, String)) -> Value {
    let (code, body) = answer;
    assert_eq!(*code, 200, "{body}");
    let json: Value = serde_json::from_str(body).expect("a JSON answer");
    assert_eq!(json["status"], "drained", "{body}");
    let workers = json["workers"].as_array().expect("the drained workers");
    assert_eq!(workers.len(), 1, "{body}");
    workers[0].clone()
}

/// Waits for a process of the test's own to exit (within [`PATIENCE`]); its exit code.
fn exit_code(child: &mut Child) -> i32 {
    let mut status = None;
    eventually("the worker to exit", PATIENCE, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    code(status.unwrap())
}

#[test]
fn a_pre_stop_drain_answers_once_the_work_in_flight_is_done_and_new_work_goes_elsewhere() {
    let server = DevServer::completing_polls();
    let (pod, other) = (Pod::new("pod-drained"), Pod::new("pod-next"));
    let scratch = Scratch::new("watch-drain");
    let log = scratch.path("executions");
    let (health, endpoint) = (free_port(), free_port());
    let mut watch = sidecar(&pod, &server, (health, endpoint), &[]);
    // The TypeScript SDK at its defaults: on SIGTERM, which the kubelet sends once the preStop
    // hook has answered, it stops at once and cancels what it still runs.
    let address = format!("127.0.0.1:{endpoint}");
    let mut worker = pod.worker(&address, &ts_slow_worker(QUEUE, &log, 8), &[]);
    let pid = worker.child.id() as i32;
    eventually("/readyz 200 from the worker's polls", PATIENCE, || {
        readyz(health).0 == 200
    });
    let first = ids("in-flight", 3);
    server.start_workflows(QUEUE, "ProcessDocument", "\"a.pdf\"", &first);
    eventually("three activities in flight", PATIENCE, || {
        count(&log, "start", &first) == 3
    });

    let drain = ask_drain(health);
    let draining = watch.wait_for_log("draining:", 1, PATIENCE);
    assert!(draining.contains("asked on /drain"), "{draining}");
    assert!(draining.contains("3 activity in flight"), "{draining}");
    assert!(
        draining.contains("open polls completed by Temporal (ShutdownWorker)"),
        "{draining}"
    );
    let (code, body) = readyz(health);
    assert_eq!(code, 503, "not ready while draining: {body}");
    // New work while the drain runs goes to a worker of another pod.
    let second = ids("after-drain", 2);
    server.start_workflows(QUEUE, "ProcessDocument", "\"b.pdf\"", &second);
    let next = other.worker(&server.address(), &ts_slow_worker(QUEUE, &log, 0), &[]);
    server.results(&second);
    all_ran_in(&log, &second, next.child.id() as i32);

    let answer = drain.join().expect("the /drain request");
    // Answered once the activities were done, each in this pod's worker.
    assert_eq!(count(&log, "done", &first), 3, "{:?}", executions(&log));
    let drained = drained_worker(&answer);
    assert_eq!(drained["outcome"], "completed", "{}", answer.1);
    assert_eq!(drained["finished"], 3, "{}", answer.1);
    assert_eq!(drained["abandoned"], 0, "{}", answer.1);
    server.results(&first);
    each_ran_once_in(&log, &first, pid);
    all_ran_in(&log, &second, next.child.id() as i32);

    // The kubelet's SIGTERM: the worker stops by itself (the SDK waits for its polls, which
    // the endpoint answers once the drain is over), long before the drain would be called
    // off; then the sidecar's, which ends at once: its worker is gone.
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut worker.child), 0, "{}", worker.output());
    watch.signal(Signal::SIGTERM);
    let (code, text) = watch.wait_exit(PATIENCE);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("no stop followed the drain"), "{text}");
    assert!(!text.contains("outlived the stop timeout"), "{text}");
}

#[test]
fn a_worker_container_restarted_in_place_is_ready_only_once_the_new_process_polls() {
    let server = DevServer::start();
    let pod = Pod::new("pod-restarted");
    let (health, endpoint) = (free_port(), free_port());
    let watch = sidecar(&pod, &server, (health, endpoint), &[]);
    let address = format!("127.0.0.1:{endpoint}");
    let mut first = pod.worker(&address, &plain_worker(QUEUE, &[]), &[]);
    eventually("/readyz 200", PATIENCE, || readyz(health).0 == 200);
    let identity = format!("{}@pod-restarted", first.child.id());

    first.kill();
    eventually("/readyz 503 once its polls are gone", PATIENCE, || {
        readyz(health).0 == 503
    });
    let (_, body) = readyz(health);
    assert!(body.contains("is not polling"), "{body}");
    // Temporal still lists the dead process's poller, fresh: judged by DescribeTaskQueue,
    // the pod would be ready on it for up to 90 s.
    let out = server.cli(&[
        "task-queue",
        "describe",
        "--task-queue",
        QUEUE,
        "-o",
        "json",
    ]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&identity), "{identity} listed: {listed}");

    let second = pod.worker(&address, &plain_worker(QUEUE, &[]), &[]);
    eventually("/readyz 200 once the new process polls", PATIENCE, || {
        readyz(health).0 == 200
    });
    // The endpoint sees the SDK's first poll before the worker prints that it polls, and the
    // sidecar's log line is written by its log thread after /readyz changed: both are awaited.
    eventually("the new process to say it polls", PATIENCE, || {
        second.output().contains("polling as")
    });
    let log = watch.wait_for_log("worker polls its task queues", 2, PATIENCE);
    assert_eq!(
        log.matches("worker polls its task queues").count(),
        2,
        "{log}"
    );
    assert!(log.contains("worker not polling"), "{log}");
}

#[test]
fn a_drain_no_stop_follows_is_called_off_after_the_stop_timeout_and_the_worker_takes_work_again() {
    let server = DevServer::completing_polls();
    let (pod, other) = (Pod::new("pod-kept"), Pod::new("pod-other"));
    let scratch = Scratch::new("watch-drain-off");
    let log = scratch.path("executions");
    let (health, endpoint) = (free_port(), free_port());
    let watch = sidecar(
        &pod,
        &server,
        (health, endpoint),
        &["--stop-timeout", "15s"],
    );
    let worker = pod.worker(
        &format!("127.0.0.1:{endpoint}"),
        &slow_worker(QUEUE, &log),
        &[],
    );
    let pid = worker.child.id() as i32;
    eventually("/readyz 200", PATIENCE, || readyz(health).0 == 200);
    let mut elsewhere = other.worker(&server.address(), &slow_worker(QUEUE, &log), &[]);
    eventually("the other pod's worker polls", PATIENCE, || {
        elsewhere.output().contains("polling")
    });

    let answer = ask_drain(health).join().expect("the /drain request");
    let drained = drained_worker(&answer);
    assert_eq!(drained["outcome"], "completed", "{}", answer.1);
    assert_eq!(drained["finished"], 0, "{}", answer.1);
    // Drained, the worker takes no new work: the other pod's does.
    let during = ids("during", 2);
    server.start_workflows(QUEUE, "SlowWork", "0", &during);
    server.results(&during);
    all_ran_in(&log, &during, elsewhere.child.id() as i32);
    kill(Pid::from_raw(elsewhere.child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut elsewhere.child), 0, "{}", elsewhere.output());

    // No stop came: the drain is called off, and the worker takes work again.
    watch.wait_for_log(
        "no stop followed the drain within 15s: the worker takes work again",
        1,
        PATIENCE,
    );
    eventually("/readyz 200 again", PATIENCE, || readyz(health).0 == 200);
    let after = ids("after", 2);
    server.start_workflows(QUEUE, "SlowWork", "0", &after);
    server.results(&after);
    all_ran_in(&log, &after, pid);
}
