use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::Code;

use super::*;
use crate::endpoint::metrics::{EndpointMetrics, TaskKind, Via};

fn ledger() -> Ledger {
    Ledger::new(EndpointMetrics::default())
}

fn task(token: &'static [u8], kind: TaskKind, activity: Option<ActivityKey>) -> Task {
    Task {
        token: Bytes::from_static(token),
        kind,
        activity,
        via: Via::Poll,
    }
}

fn instance(sticky: Option<&str>) -> Instance {
    Instance {
        namespace: "default".into(),
        identity: "1@host".into(),
        key: "key".into(),
        queue: "q".into(),
        sticky_queue: sticky.map(str::to_string),
    }
}

#[test]
fn a_task_is_held_until_temporal_takes_its_answer() {
    let mut l = ledger();
    l.delivered(task(b"a", TaskKind::Activity, None));
    l.delivered(task(b"w", TaskKind::Workflow, None));
    l.delivered(task(b"", TaskKind::Workflow, None));
    assert_eq!(l.in_flight(), 2);
    assert_eq!(l.in_flight_words(), "1 workflow, 1 activity");
    // Temporal unreachable: the SDK will retry, the task is still held.
    l.answered(b"a", Answer::Completed, Code::Unavailable);
    assert_eq!(l.in_flight(), 2);
    l.answered(b"a", Answer::Completed, Code::Ok);
    // The task had timed out: it is gone as well.
    l.answered(b"w", Answer::Completed, Code::NotFound);
    assert_eq!(l.in_flight(), 0);
    assert_eq!(l.in_flight_words(), "no task");
}

#[test]
fn an_activity_answered_by_id_is_let_go() {
    let mut l = ledger();
    let key = ActivityKey {
        workflow_id: "wf".into(),
        activity_id: "1".into(),
    };
    l.delivered(task(b"t", TaskKind::Activity, Some(key.clone())));
    l.answered_by_id(&key, Answer::Failed, Code::Ok);
    assert_eq!(l.in_flight(), 0);
    assert!(!l.tasks.knows_activities());
}

#[test]
fn a_drain_counts_what_was_held_what_arrived_and_what_finished() {
    let mut l = ledger();
    l.delivered(task(b"1", TaskKind::Activity, None));
    l.delivered(task(b"2", TaskKind::Activity, None));
    l.begin_drain();
    l.delivered(task(b"3", TaskKind::Workflow, None));
    l.answered(b"1", Answer::Completed, Code::Ok);
    l.answered(b"3", Answer::Completed, Code::Ok);
    let tally = l.drain_tally().unwrap();
    assert_eq!(
        tally,
        DrainTally {
            at_start: 2,
            arrived: 1,
            finished: 2
        }
    );
    assert_eq!(l.in_flight(), 1);
}

#[test]
fn a_queue_is_polled_while_an_accepted_poll_is_open_and_shortly_after() {
    let mut l = ledger();
    let kinds = [TaskKind::Workflow, TaskKind::Activity];
    let before = Instant::now();
    let id = l.poll_started(TaskKind::Workflow, instance(None), None);
    assert!(!l.polls_queue("q", &kinds, before, None).polling());
    l.poll_accepted(id);
    let p = l.polls_queue("q", &kinds, Instant::now(), None);
    assert!(p.polling());
    assert_eq!(p.open, 1);
    // Only polls since a moment count, when asked: this one began before.
    let later = Instant::now() + Duration::from_millis(1);
    assert!(!l.polls_queue("q", &kinds, later, Some(later)).polling());
    l.poll_ended(id, Ok(()));
    assert!(
        l.polls_queue("q", &kinds, Instant::now(), Some(before))
            .polling()
    );
    assert!(
        !l.polls_queue("q", &kinds, Instant::now() + POLL_GAP, None)
            .polling()
    );
    // Only the kinds asked for count.
    assert!(
        !l.polls_queue("q", &[TaskKind::Activity], Instant::now(), None)
            .polling()
    );
}

#[test]
fn a_refused_poll_says_why() {
    let mut l = ledger();
    let id = l.poll_started(TaskKind::Activity, instance(None), None);
    l.poll_ended(id, Err("NotFound: namespace x not found".into()));
    let p = l.polls_queue("q", &[TaskKind::Activity], Instant::now(), None);
    assert!(!p.polling());
    assert_eq!(p.error.as_deref(), Some("NotFound: namespace x not found"));
    assert_eq!(l.polls_outstanding(), 0);
}

#[test]
fn each_sdk_worker_is_known_with_its_sticky_queue() {
    let mut l = ledger();
    l.poll_started(TaskKind::Workflow, instance(Some("sticky-1")), None);
    l.poll_started(TaskKind::Activity, instance(None), None);
    let other = Instance {
        key: "other".into(),
        queue: "q2".into(),
        ..instance(None)
    };
    l.poll_started(TaskKind::Activity, other.clone(), None);
    assert_eq!(l.instances(), [instance(Some("sticky-1")), other]);
}
