//! `watch`, the sidecar: it starts nothing and proves that the workers of *its* pod poll. Each
//! pod is stood in for by a UTS namespace with its own hostname ([`Pod`]: a pause process,
//! containers entered with `nsenter --uts`), the workers are real Python SDK workers, and the
//! server is a real dev server.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::grpc_proxy::GrpcProxy;
use crate::common::pod::Pod;
use crate::common::*;

const QUEUE: &str = "documents";

/// `watch` in `pod` for `QUEUE` (or a config file's workers), answering on `health`.
fn watch(pod: &Pod, server: &DevServer, health: u16, extra: &[&str]) -> Supervised {
    let mut cmd = pod.supervisor();
    cmd.args([
        "watch",
        "--address",
        &server.address(),
        "--health-listen",
        &format!("127.0.0.1:{health}"),
        "--probe-interval",
        "1s",
    ])
    .args(extra);
    started(cmd, health)
}

/// Starts `watch` and waits until its health port is open (it binds before anything else).
fn started(cmd: std::process::Command, health: u16) -> Supervised {
    let sidecar = Supervised::start_plain(cmd);
    eventually("the sidecar's health port", PATIENCE, || port_open(health));
    sidecar
}

fn ready(health: u16) -> bool {
    http_get(health, "/readyz").0 == 200
}

#[test]
fn another_pods_worker_does_not_count_and_this_pods_does_within_seconds() {
    let server = DevServer::start();
    let (pod, other) = (Pod::new("pod-a"), Pod::new("pod-b"));
    let health = free_port();
    let sidecar = watch(&pod, &server, health, &["--task-queue", QUEUE]);
    let theirs = other.worker(&server.address(), &plain_worker(QUEUE, &[]), &[]);
    eventually("pod-b's worker polls", PATIENCE, || {
        theirs.output().contains("polling as")
    });
    assert!(theirs.output().contains("@pod-b"), "{}", theirs.output());

    // pod-b's poller is seen, and does not count for pod-a.
    eventually("/readyz to name pod-b's poller", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains("polled by") && body.contains("@pod-b")
    });
    let (_, body) = http_get(health, "/readyz");
    assert!(
        body.contains("no poller of this worker (PID@pod-a or PID@pod-a@*)"),
        "{body}"
    );

    let mine = pod.worker(&server.address(), &plain_worker(QUEUE, &[]), &[]);
    eventually("pod-a's worker polls", PATIENCE, || {
        mine.output().contains("polling as")
    });
    let polling = Instant::now();
    eventually("/readyz 200 for pod-a's worker", PATIENCE, || ready(health));
    let took = polling.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "ready {took:?} after the first poll"
    );
    let log = sidecar.log();
    assert!(log.contains("worker polls its task queues"), "{log}");

    // It started nothing, and it never signals the worker: SIGTERM ends it at once with 0.
    assert_eq!(children_of(sidecar.pid()), Vec::<i32>::new());
    let mut sidecar = sidecar;
    sidecar.signal(Signal::SIGTERM);
    let (code, log) = sidecar.wait_exit(Duration::from_secs(5));
    assert_eq!(code, 0, "{log}");
    assert!(alive(mine.child.id() as i32), "the worker lives on");
}

#[test]
fn a_killed_worker_turns_the_pod_unready_within_the_poller_age() {
    let server = DevServer::start();
    let pod = Pod::new("pod-killed");
    let health = free_port();
    let _sidecar = watch(&pod, &server, health, &["--task-queue", QUEUE]);
    let mut worker = pod.worker(&server.address(), &plain_worker(QUEUE, &[]), &[]);
    eventually("/readyz 200", PATIENCE, || ready(health));
    worker.kill();
    let killed = Instant::now();
    // Its last poll stays listed; it ages out after 90 s (a poll lasts up to a minute).
    eventually(
        "/readyz 503 once the poller ages out",
        Duration::from_secs(150),
        || !ready(health),
    );
    let took = killed.elapsed();
    // The window, one check a second (--probe-interval 1s), and slack for a loaded machine.
    assert!(
        took <= Duration::from_secs(100),
        "unready {took:?} after the kill"
    );
    let (_, body) = http_get(health, "/readyz");
    assert!(body.contains("is not polling"), "{body}");
}

#[test]
fn temporal_lost_turns_it_unready_until_the_worker_polls_again() {
    let mut server = DevServer::start_persistent();
    let pod = Pod::new("pod-outage");
    let health = free_port();
    let sidecar = watch(&pod, &server, health, &["--task-queue", QUEUE]);
    let worker = pod.worker(&server.address(), &plain_worker(QUEUE, &[]), &[]);
    eventually("/readyz 200", PATIENCE, || ready(health));

    server.kill();
    eventually("/readyz 503 naming Temporal", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains("Temporal is not ready")
    });
    sidecar.wait_for_log("Temporal lost", 1, PATIENCE);
    server.spawn();
    // Back only once this worker polls again (its SDK reconnects by itself).
    let log = sidecar.wait_for_log("ready once the workers poll again", 1, PATIENCE);
    assert!(log.contains("Temporal is back"), "{log}");
    eventually("/readyz 200 again", PATIENCE, || ready(health));
    assert!(alive(worker.child.id() as i32), "the worker was left alone");
    assert_eq!(children_of(sidecar.pid()), Vec::<i32>::new());
}

#[test]
fn after_an_outage_only_a_poll_since_the_loss_makes_it_ready() {
    // The watch reaches Temporal through a stand-in that cuts its connections for a while (a
    // network blip between the pod and Temporal); the server keeps running, so the worker's
    // pollers stay listed with their last poll from before the cut. The worker is frozen
    // through it, as a wedged worker would be.
    let server = DevServer::start();
    let proxy = GrpcProxy::plain(server.port);
    let pod = Pod::new("pod-blip");
    let health = free_port();
    let mut cmd = pod.supervisor();
    cmd.args([
        "watch",
        "--address",
        &proxy.address(),
        "--health-listen",
        &format!("127.0.0.1:{health}"),
        "--task-queue",
        QUEUE,
        "--probe-interval",
        "1s",
    ]);
    let sidecar = started(cmd, health);
    let worker = pod.worker(&server.address(), &plain_worker(QUEUE, &[]), &[]);
    eventually("/readyz 200", PATIENCE, || ready(health));
    let frozen = Pid::from_raw(worker.child.id() as i32);
    kill(frozen, Signal::SIGSTOP).unwrap();
    proxy.cut_for(Duration::from_secs(8));
    sidecar.wait_for_log("Temporal lost", 1, PATIENCE);
    sidecar.wait_for_log("Temporal is back", 1, PATIENCE);
    let expected = "this worker has not polled documents since Temporal was lost";
    eventually("/readyz 503: no poll since the loss", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains(expected)
    });
    kill(frozen, Signal::SIGCONT).unwrap();
    eventually("/readyz 200 once it polls again", PATIENCE, || {
        ready(health)
    });
}

#[test]
fn a_worker_polling_as_another_build_is_not_ready_and_the_reason_names_both() {
    let server = DevServer::start();
    let pod = Pod::new("pod-versioned");
    let health = free_port();
    let mut cmd = pod.supervisor();
    cmd.env("TEMPORAL_DEPLOYMENT_NAME", "workers/documents")
        .env("TEMPORAL_WORKER_BUILD_ID", "b2")
        .args([
            "watch",
            "--address",
            &server.address(),
            "--health-listen",
            &format!("127.0.0.1:{health}"),
            "--task-queue",
            QUEUE,
        ]);
    let _sidecar = started(cmd, health);
    // The example worker reads the controller's variables; its own environment says b1.
    let _worker = pod.worker(
        &server.address(),
        &example_worker("document_processing.py"),
        &[
            ("TEMPORAL_DEPLOYMENT_NAME", "workers/documents"),
            ("TEMPORAL_WORKER_BUILD_ID", "b1"),
        ],
    );
    let expected = "this worker polls documents as deployment 'workers/documents' build 'b1', \
                    expected deployment 'workers/documents' build 'b2'";
    eventually("/readyz to name both builds", PATIENCE, || {
        let (code, body) = http_get(health, "/readyz");
        code == 503 && body.contains(expected)
    });
}

#[test]
fn named_workers_are_ready_one_by_one_and_status_asks_the_sidecar() {
    let server = DevServer::start();
    let pod = Pod::new("pod-named");
    let health = free_port();
    let scratch = Scratch::new("watch-named");
    let file = scratch.path("watch.toml");
    std::fs::write(
        &file,
        "[workers.documents]\ntask_queues = [\"documents\"]\n\
         [workers.payments]\ntask_queues = [\"payments\"]\n",
    )
    .unwrap();
    let _sidecar = watch(&pod, &server, health, &["--config", file.to_str().unwrap()]);
    let _documents = pod.worker(&server.address(), &plain_worker("documents", &[]), &[]);
    eventually("documents ready", PATIENCE, || {
        http_get(health, "/readyz?worker=documents").0 == 200
    });
    let (code, body) = http_get(health, "/readyz?worker=payments");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no pollers at all on payments"), "{body}");
    assert_eq!(http_get(health, "/readyz").0, 503, "payments is not polled");

    let status = |worker: &str| {
        let mut cmd = pod.supervisor();
        cmd.args([
            "status",
            "--health-listen",
            &format!("127.0.0.1:{health}"),
            "--worker",
            worker,
        ]);
        code_of(&run_cmd(&mut cmd).0)
    };
    assert_eq!(status("documents"), 0);
    assert_eq!(status("payments"), 1);
    let _payments = pod.worker(&server.address(), &plain_worker("payments", &[]), &[]);
    eventually("every worker ready", PATIENCE, || ready(health));
}

#[test]
fn watch_refuses_a_command_and_needs_task_queues_and_a_health_address() {
    let scratch = Scratch::new("watch-bad");
    let file = scratch.path("watch.toml");
    std::fs::write(
        &file,
        "[workers.documents]\ncommand = [\"python\", \"worker.py\"]\ntask_queues = [\"d\"]\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let replicas = scratch.path("replicas.toml");
    std::fs::write(
        &replicas,
        "[workers.documents]\nreplicas = 3\ntask_queues = [\"d\"]\n",
    )
    .unwrap();
    let replicas = replicas.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["watch", "--health-listen", ":0", "--config", file],
            "watch starts nothing",
        ),
        (
            &["watch", "--health-listen", ":0", "--config", replicas],
            "key workers.documents.replicas: watch starts nothing, so its workers take no replicas",
        ),
        (&["watch", "--health-listen", ":0"], "give --task-queue"),
        (&["watch", "--task-queue", "d"], "give --health-listen"),
    ];
    for (args, expected) in cases {
        let out = run_cmd(supervisor().args(args)).0;
        let err = stderr(&out);
        assert_eq!(code_of(&out), 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}
