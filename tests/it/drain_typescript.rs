//! A TypeScript SDK worker at its defaults, stopped under `run`: its Runtime handles SIGTERM
//! itself with no grace (`shutdownGraceTime` 0), which cancels the activities in flight, so a
//! stop signal sent at once would have them fail and run again elsewhere. `run` drains it
//! first through its endpoint: the activities finish once each, in the worker that had them,
//! and the work started after the SIGTERM goes to the next worker on the queue. A real dev
//! server and real TypeScript SDK workers (tests/workers/typescript/slow_activities.js).

use nix::sys::signal::Signal;

use crate::common::slow_ts::*;
use crate::common::*;

const QUEUE: &str = "ts-drain";

#[test]
fn a_typescript_worker_at_its_defaults_finishes_its_activities_once_and_takes_no_new_work() {
    let server = DevServer::completing_polls();
    let scratch = Scratch::new("ts-drain");
    let log = scratch.path("executions");
    let worker = ts_slow_worker(QUEUE, &log, 8);
    let address = server.address();
    let mut run = Supervised::start(
        &["run", "--address", &address, "--task-queue", QUEUE],
        &words(&worker),
    );
    run.wait_for_log("worker is polling", 1, PATIENCE);
    let pid = run.worker_pids()[0];
    let first = ids("ts-first", 3);
    server.start_workflows(QUEUE, "ProcessDocument", "\"a.pdf\"", &first);
    eventually("three activities in flight", PATIENCE, || {
        count(&log, "start", &first) == 3
    });

    run.signal(Signal::SIGTERM);
    let draining = run.wait_for_log("draining:", 1, PATIENCE);
    assert!(draining.contains("3 activity in flight"), "{draining}");
    assert!(
        draining.contains("open polls completed by Temporal (ShutdownWorker)"),
        "{draining}"
    );
    // Work started after the SIGTERM, and the next worker on the queue.
    let second = ids("ts-second", 2);
    server.start_workflows(QUEUE, "ProcessDocument", "\"b.pdf\"", &second);
    let next = BareWorker::start(&address, &ts_slow_worker(QUEUE, &log, 0));

    let (code, text) = run.wait_exit(PATIENCE);
    assert_eq!(code, 0, "an orderly stop: {text}");
    let drained = text.find("drain completed").expect("the drain completed");
    let signalled = text
        .find("sent SIGTERM to the worker's process group")
        .expect("the stop signal went");
    assert!(drained < signalled, "the drain, then SIGTERM: {text}");
    assert!(
        !text.contains("sent SIGKILL"),
        "the worker stopped by itself: {text}"
    );
    assert!(text.contains("3 finished"), "{text}");
    assert!(text.contains("0 left"), "{text}");

    for result in server.results(&first) {
        assert!(result.contains("a.pdf: 13 characters"), "{result}");
    }
    server.results(&second);
    // Neither cancelled nor retried: one attempt each, to its end, in the drained worker.
    each_ran_once_in(&log, &first, pid);
    all_ran_in(&log, &second, next.pid());
}
