//! Proof that the worker itself is polling: its pollers on its task queues.
//!
//! `DescribeTaskQueue` lists the pollers of a task queue with their identity and last access
//! time. SDK workers identify as `<pid>@<hostname>` by default, and the supervisor knows its
//! worker's pid, so it can tell *this* worker's pollers from others on the same queue.
//! `--worker-identity` takes a pattern for workers that set their own identity: `{pid}` and
//! `{hostname}` are replaced, `*` matches anything.
//!
//! A poller counts as live while its last access is under [`POLLER_MAX_AGE`] old: a long poll
//! lasts up to about 60 s and the time is updated when one starts and ends, so a healthy idle
//! poller can look a minute old; a dead one stays listed, ageing, for five minutes.

use std::time::{Duration, SystemTime};

use temporalio_client::Connection;
use temporalio_client::tonic::IntoRequest;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;

use crate::config::{PollerSettings, QueueType};
use crate::temporal::probe::{Bound, ProbeError, Stage};

/// A poller whose last access is older than this counts as gone.
pub const POLLER_MAX_AGE: Duration = Duration::from_secs(90);

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerReport {
    /// Every configured task queue has a live poller of this worker.
    pub polling: bool,
    /// Live pollers of this worker, over all queues and types.
    pub seen: u64,
    /// Task queues without a live poller of this worker.
    pub missing: Vec<String>,
}

/// Checks one worker's pollers.
#[derive(Debug, Clone)]
pub struct PollerCheck {
    namespace: String,
    task_queues: Vec<String>,
    queue_type: QueueType,
    identity: String,
}

impl PollerCheck {
    /// For the worker with this pid; `None` when no task queues are configured.
    pub fn new(settings: &PollerSettings, namespace: &str, pid: i32) -> Option<PollerCheck> {
        if settings.task_queues.is_empty() {
            return None;
        }
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = settings
            .worker_identity
            .replace("{pid}", &pid.to_string())
            .replace("{hostname}", &hostname);
        Some(PollerCheck {
            namespace: namespace.to_string(),
            task_queues: settings.task_queues.clone(),
            queue_type: settings.task_queue_type,
            identity,
        })
    }

    /// The identity pattern, resolved for this worker.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub async fn check(
        &self,
        connection: &Connection,
        bound: &Bound,
    ) -> Result<PollerReport, ProbeError> {
        let types: &[TaskQueueType] = match self.queue_type {
            QueueType::Workflow => &[TaskQueueType::Workflow],
            QueueType::Activity => &[TaskQueueType::Activity],
            QueueType::Any => &[TaskQueueType::Workflow, TaskQueueType::Activity],
        };
        let now = SystemTime::now();
        let mut seen = 0;
        let mut missing = Vec::new();
        for queue in &self.task_queues {
            let mut live_here = 0;
            for &kind in types {
                let pollers = bound
                    .run(
                        Stage::Pollers,
                        self.describe(connection, queue, kind, bound),
                    )
                    .await?;
                live_here += pollers
                    .iter()
                    .filter(|(identity, last)| {
                        matches(&self.identity, identity)
                            && last.is_some_and(|t| {
                                now.duration_since(t).unwrap_or_default() < POLLER_MAX_AGE
                            })
                    })
                    .count() as u64;
            }
            if live_here == 0 {
                missing.push(queue.clone());
            }
            seen += live_here;
        }
        Ok(PollerReport {
            polling: missing.is_empty(),
            seen,
            missing,
        })
    }

    /// Identity and last access time of each poller of one queue and type.
    async fn describe(
        &self,
        connection: &Connection,
        queue: &str,
        kind: TaskQueueType,
        bound: &Bound,
    ) -> Result<Vec<(String, Option<SystemTime>)>, ProbeError> {
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
                    format!(
                        "DescribeTaskQueue {queue}: {:?}: {}",
                        status.code(),
                        status.message()
                    ),
                )
            })?;
        Ok(response
            .into_inner()
            .pollers
            .into_iter()
            .map(|p| {
                let last = p.last_access_time.and_then(|t| {
                    let secs = u64::try_from(t.seconds).ok()?;
                    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, t.nanos.max(0) as u32))
                });
                (p.identity, last)
            })
            .collect())
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
    use super::matches;

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
}
