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

use std::time::{Duration, SystemTime};

use temporalio_client::Connection;
use temporalio_client::tonic::IntoRequest;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::{PollerInfo, TaskQueue};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;

use crate::config::{ConnectionSettings, Deployment, PollerSettings, QueueType};
use crate::temporal::explain::describe_status;
use crate::temporal::identity::Identity;
use crate::temporal::probe::{Bound, Kind, ProbeError, Stage};

/// A poller whose last access is older than this counts as gone.
pub const POLLER_MAX_AGE: Duration = Duration::from_secs(90);

/// How many other identities a finding names at most.
const SHOWN_IDENTITIES: usize = 5;

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

/// What one queue's pollers say.
#[derive(Debug, Clone, PartialEq)]
struct QueueVerdict {
    /// Live pollers that count for this worker.
    counted: u64,
    /// How long until the newest of them ages out.
    fresh_for: Option<Duration>,
    /// When none counts: what was seen instead.
    finding: Option<String>,
}

/// One poller of a queue as the server lists it.
#[derive(Debug, Clone, PartialEq)]
struct Poller {
    identity: String,
    last_access: Option<SystemTime>,
    /// `(deployment name, build ID)` when it polls under worker versioning.
    deployment: Option<(String, String)>,
}

impl Poller {
    fn from_info(info: PollerInfo) -> Poller {
        let last_access = info.last_access_time.and_then(|t| {
            let secs = u64::try_from(t.seconds).ok()?;
            Some(SystemTime::UNIX_EPOCH + Duration::new(secs, t.nanos.max(0) as u32))
        });
        let deployment = info
            .deployment_options
            .filter(|d| !d.deployment_name.is_empty() || !d.build_id.is_empty())
            .map(|d| (d.deployment_name, d.build_id));
        Poller {
            identity: info.identity,
            last_access,
            deployment,
        }
    }

    fn live(&self, now: SystemTime) -> bool {
        self.last_access
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < POLLER_MAX_AGE)
    }
}

/// Checks one worker's pollers.
#[derive(Debug, Clone)]
pub struct PollerCheck {
    namespace: String,
    /// The server, as the findings name it.
    address: String,
    task_queues: Vec<String>,
    queue_type: QueueType,
    identity: Identity,
    deployment: Option<Deployment>,
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
            namespace: connection.namespace.clone(),
            address: connection.address(),
            task_queues: settings.task_queues.clone(),
            queue_type: settings.task_queue_type,
            identity,
            deployment: settings.deployment.clone(),
        })
    }

    /// As [`PollerCheck::new`], for pollers seen through the worker's endpoint, which are its
    /// own whatever their pid: identities are checked only against a pattern given
    /// (`--worker-identity`).
    pub fn for_endpoint(self, settings: &PollerSettings) -> PollerCheck {
        match &settings.worker_identity {
            Some(_) => self,
            None => PollerCheck {
                identity: Identity::Pattern("*".into()),
                ..self
            },
        }
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
        let verdict = self.judge(queue, &pollers, None, now);
        (verdict.counted, verdict.finding)
    }

    /// The identities that count, for this worker, as the log shows them.
    pub fn identity(&self) -> String {
        self.identity.shown()
    }

    /// The deployment and build the pollers must carry, as the log shows them.
    pub fn deployment(&self) -> Option<String> {
        self.deployment
            .as_ref()
            .map(|d| format!("deployment '{}' build '{}'", d.name, d.build_id))
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
                let judged = self.judge(queue, &live, polled_after, now);
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

    /// How many live pollers of one queue count for this worker (those that polled after
    /// `polled_after`, when given), how long the newest of them stays live, and, when none
    /// counts, what was seen there instead.
    fn judge(
        &self,
        queue: &str,
        live: &[Poller],
        polled_after: Option<SystemTime>,
        now: SystemTime,
    ) -> QueueVerdict {
        let mine: Vec<&Poller> = live
            .iter()
            .filter(|p| self.identity.matches(&p.identity))
            .collect();
        let versioned: Vec<&&Poller> = mine
            .iter()
            .filter(|p| match &self.deployment {
                Some(d) => p.deployment.as_ref() == Some(&(d.name.clone(), d.build_id.clone())),
                None => true,
            })
            .collect();
        let counted: Vec<SystemTime> = versioned
            .iter()
            .filter_map(|p| p.last_access)
            .filter(|&at| polled_after.is_none_or(|after| at >= after))
            .collect();
        if let Some(&newest) = counted.iter().max() {
            let age = now.duration_since(newest).unwrap_or_default();
            return QueueVerdict {
                counted: counted.len() as u64,
                fresh_for: Some(POLLER_MAX_AGE.saturating_sub(age)),
                finding: None,
            };
        }
        let not_counted = |finding: String| QueueVerdict {
            counted: 0,
            fresh_for: None,
            finding: Some(finding),
        };
        if let Some(last) = versioned.iter().filter_map(|p| p.last_access).max() {
            let ago = now.duration_since(last).unwrap_or_default();
            return not_counted(format!(
                "this worker has not polled {queue} since Temporal was lost (last poll {} ago)",
                crate::duration::format(Duration::from_secs(ago.as_secs()))
            ));
        }
        not_counted(match (mine.first(), &self.deployment) {
            (Some(poller), Some(_)) => format!(
                "this worker polls {queue} {}, expected {}",
                match &poller.deployment {
                    Some((name, build)) => format!("as deployment '{name}' build '{build}'"),
                    None => "unversioned".into(),
                },
                self.deployment().unwrap_or_default()
            ),
            _ if live.is_empty() => format!(
                "no pollers at all on {queue} in {} at {}",
                self.namespace, self.address
            ),
            _ => {
                let mut others: Vec<&str> = live.iter().map(|p| p.identity.as_str()).collect();
                others.sort_unstable();
                others.dedup();
                let more = others.len().saturating_sub(SHOWN_IDENTITIES);
                others.truncate(SHOWN_IDENTITIES);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                format!(
                    "no poller of this worker ({}) on {queue}; polled by {}{more}",
                    self.identity(),
                    others.join(", ")
                )
            }
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
            namespace: self.namespace.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    impl PollerCheck {
        /// What `judge` counted for one queue, and what it found instead.
        fn judged(
            &self,
            queue: &str,
            live: &[Poller],
            polled_after: Option<SystemTime>,
            now: SystemTime,
        ) -> (u64, Option<String>) {
            let verdict = self.judge(queue, live, polled_after, now);
            (verdict.counted, verdict.finding)
        }
    }

    fn check(deployment: Option<Deployment>) -> PollerCheck {
        PollerCheck {
            namespace: "default".into(),
            address: "127.0.0.1:7233".into(),
            task_queues: vec!["documents".into()],
            queue_type: QueueType::Any,
            identity: Identity::SdkDefaults {
                pid_at_host: "42@pod".into(),
            },
            deployment,
        }
    }

    fn poller(identity: &str, deployment: Option<(&str, &str)>) -> Poller {
        Poller {
            identity: identity.into(),
            last_access: Some(SystemTime::now()),
            deployment: deployment.map(|(n, b)| (n.into(), b.into())),
        }
    }

    #[test]
    fn findings_say_what_was_seen_instead() {
        let now = SystemTime::now();
        let plain = check(None);
        assert_eq!(
            plain.judged("documents", &[poller("42@pod", None)], None, now),
            (1, None)
        );
        assert_eq!(
            plain.judged("documents", &[], None, now).1.unwrap(),
            "no pollers at all on documents in default at 127.0.0.1:7233"
        );
        assert_eq!(
            plain
                .judged(
                    "documents",
                    &[poller("7@pod", None), poller("8@other", None)],
                    None,
                    now
                )
                .1
                .unwrap(),
            "no poller of this worker (42@pod or 42@pod@*) on documents; polled by 7@pod, 8@other"
        );

        let versioned = check(Some(Deployment {
            name: "k8s/docs".into(),
            build_id: "b2".into(),
        }));
        assert_eq!(
            versioned
                .judged(
                    "documents",
                    &[poller("42@pod", Some(("k8s/docs", "b2")))],
                    None,
                    now
                )
                .0,
            1
        );
        assert_eq!(
            versioned
                .judged("documents", &[poller("42@pod", None)], None, now)
                .1
                .unwrap(),
            "this worker polls documents unversioned, expected deployment 'k8s/docs' build 'b2'"
        );
        assert_eq!(
            versioned
                .judged(
                    "documents",
                    &[poller("42@pod", Some(("k8s/docs", "b1")))],
                    None,
                    now
                )
                .1
                .unwrap(),
            "this worker polls documents as deployment 'k8s/docs' build 'b1', expected \
             deployment 'k8s/docs' build 'b2'"
        );
    }

    #[test]
    fn after_an_outage_only_polls_since_the_loss_count() {
        let now = SystemTime::now();
        let lost = now - Duration::from_secs(30);
        let plain = check(None);
        let old = Poller {
            last_access: Some(now - Duration::from_secs(40)),
            ..poller("42@pod", None)
        };
        assert_eq!(
            plain
                .judged("documents", std::slice::from_ref(&old), None, now)
                .0,
            1
        );
        assert_eq!(
            plain.judged("documents", std::slice::from_ref(&old), Some(lost), now),
            (
                0,
                Some(
                    "this worker has not polled documents since Temporal was lost (last poll \
                     40s ago)"
                        .into()
                )
            )
        );
        let again = poller("42@pod", None);
        assert_eq!(
            plain.judged("documents", &[old, again], Some(lost), now).0,
            1
        );
        // Another pid's fresh polls never count for this worker.
        assert_eq!(
            plain
                .judged("documents", &[poller("7@pod", None)], Some(lost), now)
                .0,
            0
        );
    }

    #[test]
    fn the_proof_holds_until_the_newest_poll_ages_out() {
        let now = SystemTime::now();
        let at = |secs| Poller {
            last_access: Some(now - Duration::from_secs(secs)),
            ..poller("42@pod", None)
        };
        let verdict = check(None).judge("documents", &[at(70), at(40)], None, now);
        assert_eq!(verdict.counted, 2);
        assert_eq!(verdict.fresh_for, Some(Duration::from_secs(50)));
        assert_eq!(
            check(None).judge("documents", &[], None, now).fresh_for,
            None
        );
    }
}
