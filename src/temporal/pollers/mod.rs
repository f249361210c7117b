//! Proof that the worker itself is polling: its pollers on its task queues.
//!
//! `DescribeTaskQueue` lists the pollers of a task queue with their identity, last access
//! time and, under worker versioning, their deployment and build ID. `run` knows its worker's
//! pid, so it can tell *this* worker's pollers from others on the same queue; `watch` knows
//! only its pod's hostname, so any pid of this host counts (see [`crate::temporal::identity`]).
//!
//! Default identities, from the SDKs' sources:
//!
//! | SDK | default identity |
//! |---|---|
//! | Python, TypeScript, .NET, Ruby (Core-based), Java | `<pid>@<hostname>` |
//! | Go | `<pid>@<hostname>@` (built as `pid@host@taskqueue` with an empty task queue) |
//!
//! By default both count, for this worker's pid and host only under `run` (another pid never
//! matches), for any pid of this host under `watch`;
//! Go's form is taken with anything after the last `@`. `--worker-identity` takes a pattern
//! for workers that set their own identity: `{pid}` and `{hostname}` are replaced, `*`
//! matches anything.
//!
//! A poller counts as live while its last access is under [`POLLER_MAX_AGE`] old: a long poll
//! lasts up to about 60 s and the time is updated when one starts and ends, so a healthy idle
//! poller can look a minute old; a dead one stays listed, ageing, for five minutes.
//!
//! When this worker is not seen, the report says what *was* seen on the queue (other
//! identities, a wrong deployment or build, or no pollers at all, with the namespace and
//! address), so a wrong identity, namespace or server is a one-line diagnosis.
//!
//! After an outage a worker must poll *again*: a check can be told to count only polls since
//! Temporal was lost ([`crate::temporal::poller_watch::PollerWatch::count_polls_after`]), so that a worker frozen through
//! the outage is not taken for a live one while its old entries age on the server.

mod verdict;

use std::time::{Duration, SystemTime};

use temporalio_client::Connection;
use temporalio_client::tonic::IntoRequest;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;

use crate::config::{ConnectionSettings, PollerSettings, QueueType};
use crate::temporal::explain::describe_status;
use crate::temporal::identity::Identity;
use crate::temporal::pollers::verdict::{Expected, Poller};
use crate::temporal::probe::{Bound, Kind, ProbeError, Stage};

/// A poller whose last access is older than this counts as gone.
pub const POLLER_MAX_AGE: Duration = Duration::from_secs(90);

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerReport {
    /// Every configured task queue has a live poller of this worker (of the right deployment).
    pub polling: bool,
    /// Live pollers of this worker that count, over all queues and types.
    pub seen: u64,
    /// For each queue without one: what was seen there instead.
    pub findings: Vec<String>,
    /// While polling: how long this proof holds without a newer poll (until the oldest
    /// queue's newest poller ages out), so the next check needs to come no sooner.
    pub fresh_for: Option<Duration>,
}

/// Checks one worker's pollers.
#[derive(Debug, Clone)]
pub struct PollerCheck {
    task_queues: Vec<String>,
    queue_type: QueueType,
    /// What its pollers look like ([`verdict`]).
    expected: Expected,
}

impl PollerCheck {
    /// For the worker process `pid`, or, with `None`, for any process of this host (`watch`:
    /// the workers of this pod); `None` when no task queues are configured.
    pub fn new(
        settings: &PollerSettings,
        connection: &ConnectionSettings,
        pid: Option<i32>,
    ) -> Option<PollerCheck> {
        if settings.task_queues.is_empty() {
            return None;
        }
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = match (&settings.worker_identity, pid) {
            (Some(pattern), _) => Identity::Pattern(
                pattern
                    .replace("{pid}", &pid.map_or("*".into(), |p| p.to_string()))
                    .replace("{hostname}", &hostname),
            ),
            (None, Some(pid)) => Identity::SdkDefaults {
                pid_at_host: format!("{pid}@{hostname}"),
            },
            (None, None) => Identity::AnyPidOn { host: hostname },
        };
        Some(PollerCheck {
            task_queues: settings.task_queues.clone(),
            queue_type: settings.task_queue_type,
            expected: Expected {
                identity,
                deployment: settings.deployment(),
                namespace: connection.namespace.clone(),
                address: connection.address(),
            },
        })
    }

    /// As [`PollerCheck::new`], for pollers seen through the worker's endpoint, which are its
    /// own whatever their pid: identities are checked only against a pattern given
    /// (`--worker-identity`).
    pub fn for_endpoint(mut self, settings: &PollerSettings) -> PollerCheck {
        if settings.worker_identity.is_none() {
            self.expected.identity = Identity::Pattern("*".into());
        }
        self
    }

    /// Judges pollers seen polling `queue` right now (identity, deployment), as a check of the
    /// server's pollers would: how many count, and what was seen instead when none does.
    pub fn judge_now(
        &self,
        queue: &str,
        live: &[(String, Option<(String, String)>)],
    ) -> (u64, Option<String>) {
        let now = SystemTime::now();
        let pollers: Vec<Poller> = live
            .iter()
            .map(|(identity, deployment)| Poller {
                identity: identity.clone(),
                last_access: Some(now),
                deployment: deployment.clone(),
            })
            .collect();
        let verdict = self.expected.judge(queue, &pollers, None, now);
        (verdict.counted, verdict.finding)
    }

    /// The identities that count, for this worker, as the log shows them.
    pub fn identity(&self) -> String {
        self.expected.identity.shown()
    }

    /// The deployment and build the pollers must carry, as the log shows them.
    pub fn deployment(&self) -> Option<String> {
        self.expected.deployment()
    }

    /// Checks every queue; with `polled_after`, only pollers that polled since then count.
    /// With either type counting, the activity pollers are asked for only when the workflow
    /// pollers did not show this worker: one request per queue while all is well.
    pub async fn check(
        &self,
        connection: &Connection,
        bound: &Bound,
        polled_after: Option<SystemTime>,
    ) -> Result<PollerReport, ProbeError> {
        let types: &[TaskQueueType] = match self.queue_type {
            QueueType::Workflow => &[TaskQueueType::Workflow],
            QueueType::Activity => &[TaskQueueType::Activity],
            QueueType::Any => &[TaskQueueType::Workflow, TaskQueueType::Activity],
        };
        let now = SystemTime::now();
        let mut seen = 0;
        let mut findings = Vec::new();
        let mut fresh_for: Option<Duration> = None;
        for queue in &self.task_queues {
            let mut live = Vec::new();
            let mut verdict = None;
            for &kind in types {
                let pollers = bound
                    .run(
                        Stage::Pollers,
                        self.describe(connection, queue, kind, bound),
                    )
                    .await?;
                live.extend(pollers.into_iter().filter(|p| p.live(now)));
                let judged = self.expected.judge(queue, &live, polled_after, now);
                let found = judged.counted > 0;
                verdict = Some(judged);
                if found {
                    break;
                }
            }
            let verdict = verdict.expect("at least one type is asked");
            seen += verdict.counted;
            findings.extend(verdict.finding);
            if let Some(fresh) = verdict.fresh_for {
                fresh_for = Some(fresh_for.map_or(fresh, |f| f.min(fresh)));
            }
        }
        let polling = findings.is_empty();
        Ok(PollerReport {
            polling,
            seen,
            findings,
            fresh_for: fresh_for.filter(|_| polling),
        })
    }

    /// The pollers of one queue and type.
    async fn describe(
        &self,
        connection: &Connection,
        queue: &str,
        kind: TaskQueueType,
        bound: &Bound,
    ) -> Result<Vec<Poller>, ProbeError> {
        let mut request = DescribeTaskQueueRequest {
            namespace: self.expected.namespace.clone(),
            task_queue: Some(TaskQueue {
                name: queue.to_string(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            task_queue_type: kind as i32,
            ..Default::default()
        }
        .into_request();
        request.set_timeout(bound.remaining());
        let response = connection
            .workflow_service()
            .describe_task_queue(request)
            .await
            .map_err(|status| {
                ProbeError::new(
                    Stage::Pollers,
                    Kind::Status(status.code()),
                    format!(
                        "DescribeTaskQueue {queue}: {}",
                        describe_status(&status, Some(bound))
                    ),
                )
            })?;
        Ok(response
            .into_inner()
            .pollers
            .into_iter()
            .map(Poller::from_info)
            .collect())
    }
}
