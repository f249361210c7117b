//! Proof that the worker itself is polling: its pollers on its task queues.
//!
//! `DescribeTaskQueue` lists the pollers of a task queue with their identity, last access
//! time and, under worker versioning, their deployment and build ID. The supervisor knows its
//! worker's pid, so it can tell *this* worker's pollers from others on the same queue.
//!
//! Default identities, from the SDKs' sources:
//!
//! | SDK | default identity |
//! |---|---|
//! | Python, TypeScript, .NET, Ruby (Core-based), Java | `<pid>@<hostname>` |
//! | Go | `<pid>@<hostname>@` (built as `pid@host@taskqueue` with an empty task queue) |
//!
//! By default both count, for this worker's pid and host only (another pid never matches);
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
//! Temporal was lost ([`PollerWatch::count_polls_after`]), so that a worker frozen through
//! the outage is not taken for a live one while its old entries age on the server.

use std::time::{Duration, SystemTime};

use temporalio_client::Connection;
use temporalio_client::tonic::IntoRequest;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::{PollerInfo, TaskQueue};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;

use tokio::sync::{mpsc, watch};

use crate::backoff::jittered;
use crate::config::{ConnectionSettings, Deployment, MonitorSettings, PollerSettings, QueueType};
use crate::task::AbortOnDrop;
use crate::temporal::explain::describe_status;
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
}

/// Which identities are this worker's.
#[derive(Debug, Clone, PartialEq)]
enum Identity {
    /// The SDKs' defaults for this pid and host: `pid@host`, or Go's `pid@host@...`.
    SdkDefaults { pid_at_host: String },
    /// A pattern from `--worker-identity`, already filled in.
    Pattern(String),
}

impl Identity {
    fn matches(&self, identity: &str) -> bool {
        match self {
            Identity::SdkDefaults { pid_at_host } => {
                identity == pid_at_host
                    || identity
                        .strip_prefix(pid_at_host.as_str())
                        .is_some_and(|rest| rest.starts_with('@'))
            }
            Identity::Pattern(pattern) => matches(pattern, identity),
        }
    }
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
    /// For the worker with this pid; `None` when no task queues are configured.
    pub fn new(
        settings: &PollerSettings,
        connection: &ConnectionSettings,
        pid: i32,
    ) -> Option<PollerCheck> {
        if settings.task_queues.is_empty() {
            return None;
        }
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = match &settings.worker_identity {
            Some(pattern) => Identity::Pattern(
                pattern
                    .replace("{pid}", &pid.to_string())
                    .replace("{hostname}", &hostname),
            ),
            None => Identity::SdkDefaults {
                pid_at_host: format!("{pid}@{hostname}"),
            },
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

    /// The identities that count, for this worker, as the log shows them.
    pub fn identity(&self) -> String {
        match &self.identity {
            Identity::SdkDefaults { pid_at_host } => format!("{pid_at_host} or {pid_at_host}@*"),
            Identity::Pattern(pattern) => pattern.clone(),
        }
    }

    /// The deployment and build the pollers must carry, as the log shows them.
    pub fn deployment(&self) -> Option<String> {
        self.deployment
            .as_ref()
            .map(|d| format!("deployment '{}' build '{}'", d.name, d.build_id))
    }

    /// Checks every queue; with `polled_after`, only pollers that polled since then count.
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
        for queue in &self.task_queues {
            let mut live = Vec::new();
            for &kind in types {
                let pollers = bound
                    .run(
                        Stage::Pollers,
                        self.describe(connection, queue, kind, bound),
                    )
                    .await?;
                live.extend(pollers.into_iter().filter(|p| p.live(now)));
            }
            let (counted, finding) = self.judge(queue, &live, polled_after, now);
            seen += counted;
            findings.extend(finding);
        }
        Ok(PollerReport {
            polling: findings.is_empty(),
            seen,
            findings,
        })
    }

    /// How many live pollers of one queue count for this worker (those that polled after
    /// `polled_after`, when given), and, when none does, what was seen there instead.
    fn judge(
        &self,
        queue: &str,
        live: &[Poller],
        polled_after: Option<SystemTime>,
        now: SystemTime,
    ) -> (u64, Option<String>) {
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
        let counted = versioned
            .iter()
            .filter(|p| match (polled_after, p.last_access) {
                (Some(after), Some(at)) => at >= after,
                (None, _) => true,
                (Some(_), None) => false,
            })
            .count() as u64;
        if counted > 0 {
            return (counted, None);
        }
        if let Some(last) = versioned.iter().filter_map(|p| p.last_access).max() {
            let ago = now.duration_since(last).unwrap_or_default();
            return (
                0,
                Some(format!(
                    "this worker has not polled {queue} since Temporal was lost (last poll {} ago)",
                    crate::duration::format(Duration::from_secs(ago.as_secs()))
                )),
            );
        }
        let finding = match (mine.first(), &self.deployment) {
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
        };
        (0, Some(finding))
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

/// Until a worker is first seen polling, look at its pollers at least this often, so that
/// readiness follows its first poll closely.
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A poller check's report about the worker process at `index` with `pid`.
pub type PollerEvent = (usize, i32, Result<PollerReport, ProbeError>);

/// Checks one worker process's pollers in the background, on the monitor's connection while
/// Temporal is well: every second until it is first seen polling (or seen again, after
/// [`PollerWatch::count_polls_after`]), then every `interval` (jittered). Each report goes to
/// `reports` with `index` and `pid`. Stops when dropped.
pub struct PollerWatch {
    _task: AbortOnDrop<()>,
    polled_after: watch::Sender<Option<SystemTime>>,
}

impl PollerWatch {
    pub fn start(
        check: PollerCheck,
        pid: i32,
        mut well: watch::Receiver<Option<Connection>>,
        settings: MonitorSettings,
        index: usize,
        reports: mpsc::Sender<PollerEvent>,
    ) -> PollerWatch {
        let (polled_after, mut after) = watch::channel(None);
        let task = AbortOnDrop::spawn(async move {
            let mut seen_polling = false;
            loop {
                let connection = match well.wait_for(Option::is_some).await {
                    Ok(connection) => connection.clone().expect("waited for Some"),
                    Err(_) => return,
                };
                let bound = Bound::new(settings.probe_timeout, "probe timeout");
                let since = *after.borrow_and_update();
                let report = check.check(&connection, &bound, since).await;
                seen_polling |= report.as_ref().is_ok_and(|r| r.polling);
                if reports.send((index, pid, report)).await.is_err() {
                    return;
                }
                let pause = if seen_polling {
                    jittered(settings.probe_interval, settings.jitter)
                } else {
                    FIRST_POLL_INTERVAL.min(settings.probe_interval)
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    // Temporal came back: look every second until the worker polls again.
                    Ok(()) = after.changed() => seen_polling = false,
                }
            }
        });
        PollerWatch {
            _task: task,
            polled_after,
        }
    }

    /// From now on only polls after `since` count (the moment Temporal was lost), and the
    /// checks follow every second until the worker polls again.
    pub fn count_polls_after(&self, since: SystemTime) {
        self.polled_after.send_replace(Some(since));
    }
}

/// Glob match where `*` matches any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_patterns() {
        let cases = [
            ("123@host", "123@host", true),
            ("123@host", "1234@host", false),
            ("123@*", "123@anything", true),
            ("*@host", "99@host", true),
            ("*@host", "99@other", false),
            ("worker-*-eu", "worker-7-eu", true),
            ("worker-*-eu", "worker-7-us", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("ab*ab", "ab", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    #[test]
    fn sdk_defaults_match_every_sdk_for_this_pid_and_host_only() {
        let mine = Identity::SdkDefaults {
            pid_at_host: "42@pod-7".into(),
        };
        let cases = [
            ("42@pod-7", true),           // Python, TypeScript, .NET, Ruby, Java
            ("42@pod-7@", true),          // Go
            ("42@pod-7@documents", true), // Go with its task queue
            ("420@pod-7", false),         // another pid on the same host
            ("4@pod-7", false),           // a prefix of this pid
            ("42@pod-70", false),         // another host
            ("42@pod-7-other", false),    // a host that merely starts the same
            ("worker-42@pod-7", false),   // a custom identity
        ];
        for (identity, expected) in cases {
            assert_eq!(mine.matches(identity), expected, "{identity}");
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
            plain.judge("documents", &[poller("42@pod", None)], None, now),
            (1, None)
        );
        assert_eq!(
            plain.judge("documents", &[], None, now).1.unwrap(),
            "no pollers at all on documents in default at 127.0.0.1:7233"
        );
        assert_eq!(
            plain
                .judge(
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
                .judge(
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
                .judge("documents", &[poller("42@pod", None)], None, now)
                .1
                .unwrap(),
            "this worker polls documents unversioned, expected deployment 'k8s/docs' build 'b2'"
        );
        assert_eq!(
            versioned
                .judge(
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
                .judge("documents", std::slice::from_ref(&old), None, now)
                .0,
            1
        );
        assert_eq!(
            plain.judge("documents", std::slice::from_ref(&old), Some(lost), now),
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
            plain.judge("documents", &[old, again], Some(lost), now).0,
            1
        );
        // Another pid's fresh polls never count for this worker.
        assert_eq!(
            plain
                .judge("documents", &[poller("7@pod", None)], Some(lost), now)
                .0,
            0
        );
    }
}
