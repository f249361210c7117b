//! The health endpoints, and which pollers prove that a worker works.

use std::time::Duration;

use crate::config::ConfigError;
use crate::config::keys::*;
use crate::config::layers::Resolver;
use crate::config::values::*;
use crate::duration;

/// The health endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Where to serve the endpoints; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
}

pub fn resolve(r: &mut Resolver<'_>) -> Result<HealthSettings, ConfigError> {
    let listen = r.get(
        &HEALTH_LISTEN,
        None,
        |t| parse_listen(t).map(Some),
        |a| a.map_or("(off)".into(), |a| a.to_string()),
    )?;
    Ok(HealthSettings { listen })
}

/// Which of a worker's pollers must be seen.
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

impl Default for PollerSettings {
    fn default() -> Self {
        PollerSettings {
            task_queues: Vec::new(),
            task_queue_type: QueueType::Any,
            deadline: Duration::from_secs(60),
            worker_identity: None,
            deployment: None,
        }
    }
}

/// Which pollers of a task queue count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Any,
    Workflow,
    Activity,
}

/// The poller settings of one worker (`None`: the single worker, or no worker at all).
pub fn resolve_pollers(
    r: &mut Resolver<'_>,
    worker: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<PollerSettings, ConfigError> {
    let task_queues = r.get_in(
        &TASK_QUEUE,
        worker,
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
    let task_queue_type = r.get_in(
        &TASK_QUEUE_TYPE,
        worker,
        QueueType::Any,
        |t| match t.trim() {
            "any" => Ok(QueueType::Any),
            "workflow" => Ok(QueueType::Workflow),
            "activity" => Ok(QueueType::Activity),
            _ => Err("expected any, workflow or activity".into()),
        },
        |q| format!("{q:?}").to_lowercase(),
    )?;
    let deadline = r.get_in(
        &POLLER_DEADLINE,
        worker,
        Duration::from_secs(60),
        parse_positive_duration,
        |d| duration::format(*d),
    )?;
    let worker_identity = r.get_in(
        &WORKER_IDENTITY,
        worker,
        None,
        |t| non_empty(t, "an identity pattern such as {pid}@{hostname}").map(Some),
        |p| match p {
            Some(pattern) => pattern.clone(),
            None => "{pid}@{hostname} or {pid}@{hostname}@* (the SDKs' defaults)".into(),
        },
    )?;
    let deployment_name = r.get_in(
        &DEPLOYMENT_NAME,
        worker,
        None,
        |t| non_empty(t, "a deployment name").map(Some),
        |n| n.clone().unwrap_or_else(|| "(none)".into()),
    )?;
    let build_id = r.get_in(
        &BUILD_ID,
        worker,
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
    Ok(PollerSettings {
        task_queues,
        task_queue_type,
        deadline,
        worker_identity,
        deployment,
    })
}

fn non_empty(text: &str, what: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err(format!("expected {what}")),
        t => Ok(t.to_string()),
    }
}
