//! The health endpoints, and which pollers prove that a worker works.

use std::time::Duration;

use crate::config::ConfigError;
use crate::config::keys::*;
use crate::config::layers::Resolver;
use crate::config::values::*;
use crate::duration;

/// The health endpoints and the poller check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Where to serve the endpoints; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
    pub pollers: PollerSettings,
}

/// Which of the worker's pollers must be seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerSettings {
    /// Empty: no poller check.
    pub task_queues: Vec<String>,
    pub task_queue_type: QueueType,
    /// A worker not polling this long after its start is restarted.
    pub deadline: Duration,
    /// Identity pattern; `{pid}` and `{hostname}` are replaced, `*` matches anything.
    /// `None`: the SDKs' own defaults for this worker's pid and host.
    pub worker_identity: Option<String>,
    /// With worker versioning: the deployment and build the worker's pollers must carry.
    pub deployment: Option<Deployment>,
}

/// A worker-deployment version, as Temporal's worker controller hands it to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    pub build_id: String,
}

/// Which pollers of a task queue count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Any,
    Workflow,
    Activity,
}

pub fn resolve(
    r: &mut Resolver<'_>,
    warnings: &mut Vec<String>,
) -> Result<HealthSettings, ConfigError> {
    let listen = r.get(
        &HEALTH_LISTEN,
        None,
        |t| parse_listen(t).map(Some),
        |a| a.map_or("(off)".into(), |a| a.to_string()),
    )?;
    let task_queues = r.get(
        &TASK_QUEUE,
        Vec::new(),
        |t| {
            let names: Vec<String> = t.split(',').map(|n| n.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err("expected task queue names separated by commas".into());
            }
            Ok(names)
        },
        |names| {
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(",")
            }
        },
    )?;
    let task_queue_type = r.get(
        &TASK_QUEUE_TYPE,
        QueueType::Any,
        |t| match t.trim() {
            "any" => Ok(QueueType::Any),
            "workflow" => Ok(QueueType::Workflow),
            "activity" => Ok(QueueType::Activity),
            _ => Err("expected any, workflow or activity".into()),
        },
        |q| format!("{q:?}").to_lowercase(),
    )?;
    let deadline = r.get(
        &POLLER_DEADLINE,
        Duration::from_secs(60),
        parse_positive_duration,
        |d| duration::format(*d),
    )?;
    let worker_identity = r.get(
        &WORKER_IDENTITY,
        None,
        |t| non_empty(t, "an identity pattern such as {pid}@{hostname}").map(Some),
        |p| match p {
            Some(pattern) => pattern.clone(),
            None => "{pid}@{hostname} or {pid}@{hostname}@* (the SDKs' defaults)".into(),
        },
    )?;
    let deployment_name = r.get(
        &DEPLOYMENT_NAME,
        None,
        |t| non_empty(t, "a deployment name").map(Some),
        |n| n.clone().unwrap_or_else(|| "(none)".into()),
    )?;
    let build_id = r.get(
        &BUILD_ID,
        None,
        |t| non_empty(t, "a build ID").map(Some),
        |b| b.clone().unwrap_or_else(|| "(none)".into()),
    )?;
    let deployment = match (deployment_name, build_id) {
        (Some(name), Some(build_id)) => Some(Deployment { name, build_id }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            warnings.push(format!(
                "worker versioning needs both a deployment name ({}, {}) and a build ID ({}, \
                 {}); with only one, the worker's deployment is not checked",
                DEPLOYMENT_NAME.flag, DEPLOYMENT_NAME.env, BUILD_ID.flag, BUILD_ID.env
            ));
            None
        }
    };
    Ok(HealthSettings {
        listen,
        pollers: PollerSettings {
            task_queues,
            task_queue_type,
            deadline,
            worker_identity,
            deployment,
        },
    })
}

fn non_empty(text: &str, what: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err(format!("expected {what}")),
        t => Ok(t.to_string()),
    }
}
