//! The endpoint's metrics, per worker process (labels `worker` and `replica`), registered by
//! [`crate::serve::metrics`]:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `temporal_supervisor_endpoint_tasks_delivered_total{kind,via}` | counter | tasks that reached the worker (`workflow`, `activity`, `nexus`), by the way they came: `poll`, `completion` (eager activities and new workflow tasks in a workflow task's completion), `start` (an eager workflow start) |
//! | `temporal_supervisor_endpoint_tasks_completed_total{kind}` | counter | tasks it completed |
//! | `temporal_supervisor_endpoint_tasks_failed_total{kind}` | counter | tasks it failed or cancelled, or that were gone when it answered |
//! | `temporal_supervisor_endpoint_tasks_in_flight{kind}` | gauge | tasks it holds |
//! | `temporal_supervisor_endpoint_polls_outstanding{kind}` | gauge | its polls open at Temporal |
//! | `temporal_supervisor_endpoint_rpc_errors_total{code}` | counter | its RPCs that failed, by gRPC code in snake case (`deadline_exceeded`; `unavailable` for ones that never reached Temporal) |
//! | `temporal_supervisor_drains_total{outcome}` | counter | drains: `completed` (nothing left), `deadline`, `skipped` (a second stop signal) |
//! | `temporal_supervisor_drain_tasks_total{outcome}` | counter | tasks of drains: `finished` (answered during the drain), `abandoned` (held when the worker was stopped) |

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label pairs, as the rest of the metrics have them.
pub type Labels = Vec<(&'static str, String)>;

/// What kind of task, as Temporal's task queue types name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskKind {
    Workflow,
    Activity,
    Nexus,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::Workflow, TaskKind::Activity, TaskKind::Nexus];

    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Workflow => "workflow",
            TaskKind::Activity => "activity",
            TaskKind::Nexus => "nexus",
        }
    }

    /// `temporal.api.enums.v1.TaskQueueType`.
    pub fn queue_type(self) -> i32 {
        match self {
            TaskKind::Workflow => 1,
            TaskKind::Activity => 2,
            TaskKind::Nexus => 3,
        }
    }
}

/// How a task reached the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A poll's response.
    Poll,
    /// `RespondWorkflowTaskCompleted`'s response: eager activities, a new workflow task.
    Completion,
    /// `StartWorkflowExecution`'s response: an eager workflow task.
    Start,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Poll => "poll",
            Via::Completion => "completion",
            Via::Start => "start",
        }
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// Nothing was left in flight.
    Completed,
    /// Its deadline came first.
    Deadline,
    /// A second stop signal cut it short.
    Skipped,
}

impl DrainEnd {
    pub fn name(self) -> &'static str {
        match self {
            DrainEnd::Completed => "completed",
            DrainEnd::Deadline => "deadline",
            DrainEnd::Skipped => "skipped",
        }
    }
}

/// The families, shared by every endpoint.
#[derive(Debug, Clone, Default)]
pub struct Families {
    delivered: Family<Labels, Counter>,
    completed: Family<Labels, Counter>,
    failed: Family<Labels, Counter>,
    in_flight: Family<Labels, Gauge>,
    polls: Family<Labels, Gauge>,
    rpc_errors: Family<Labels, Counter>,
    drains: Family<Labels, Counter>,
    drain_tasks: Family<Labels, Counter>,
}

impl Families {
    pub fn register(&self, registry: &mut Registry) {
        let f = self.clone();
        registry.register(
            "endpoint_tasks_delivered",
            "Tasks that reached the worker through its endpoint, by kind",
            f.delivered,
        );
        registry.register(
            "endpoint_tasks_completed",
            "Tasks the worker completed, by kind",
            f.completed,
        );
        registry.register(
            "endpoint_tasks_failed",
            "Tasks the worker failed or cancelled, or that were gone when it answered, by kind",
            f.failed,
        );
        registry.register(
            "endpoint_tasks_in_flight",
            "Tasks the worker holds, by kind",
            f.in_flight,
        );
        registry.register(
            "endpoint_polls_outstanding",
            "The worker's polls open at Temporal, by kind",
            f.polls,
        );
        registry.register(
            "endpoint_rpc_errors",
            "The worker's RPCs that failed, by gRPC code",
            f.rpc_errors,
        );
        registry.register("drains", "Drains of a worker, by outcome", f.drains);
        registry.register(
            "drain_tasks",
            "Tasks of drains: finished during the drain, or abandoned at the stop",
            f.drain_tasks,
        );
    }

    /// The handle for one worker process.
    pub fn for_worker(&self, labels: Labels) -> EndpointMetrics {
        EndpointMetrics {
            families: self.clone(),
            labels,
        }
    }
}

/// One worker process's metrics.
#[derive(Debug, Clone, Default)]
pub struct EndpointMetrics {
    families: Families,
    labels: Labels,
}

impl EndpointMetrics {
    fn with(&self, name: &'static str, value: &str) -> Labels {
        let mut labels = self.labels.clone();
        labels.push((name, value.to_string()));
        labels
    }

    pub fn delivered(&self, kind: TaskKind, via: Via) {
        let mut labels = self.with("kind", kind.name());
        labels.push(("via", via.name().to_string()));
        self.families.delivered.get_or_create(&labels).inc();
    }

    pub fn completed(&self, kind: TaskKind) {
        let labels = self.with("kind", kind.name());
        self.families.completed.get_or_create(&labels).inc();
    }

    pub fn failed(&self, kind: TaskKind) {
        let labels = self.with("kind", kind.name());
        self.families.failed.get_or_create(&labels).inc();
    }

    pub fn set_in_flight(&self, kind: TaskKind, n: i64) {
        let labels = self.with("kind", kind.name());
        self.families.in_flight.get_or_create(&labels).set(n);
    }

    pub fn set_polls(&self, kind: TaskKind, n: i64) {
        let labels = self.with("kind", kind.name());
        self.families.polls.get_or_create(&labels).set(n);
    }

    pub fn rpc_error(&self, code: tonic::Code) {
        let labels = self.with("code", code_label(code));
        self.families.rpc_errors.get_or_create(&labels).inc();
    }

    pub fn drained(&self, end: DrainEnd, finished: u64, abandoned: u64) {
        let labels = self.with("outcome", end.name());
        self.families.drains.get_or_create(&labels).inc();
        for (outcome, n) in [("finished", finished), ("abandoned", abandoned)] {
            let labels = self.with("outcome", outcome);
            self.families.drain_tasks.get_or_create(&labels).inc_by(n);
        }
    }
}

/// A gRPC status code as Prometheus labels write it: snake case (`deadline_exceeded`).
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_error_codes_are_labelled_in_snake_case() {
        // Every code, by its number: the label is its CamelCase name with words split by `_`.
        for n in 0..=16 {
            let code = tonic::Code::from_i32(n);
            let camel = format!("{code:?}");
            let mut snake = String::new();
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(code_label(code), snake);
        }
        assert_eq!(
            code_label(tonic::Code::DeadlineExceeded),
            "deadline_exceeded"
        );
    }

    #[test]
    fn an_rpc_error_counts_under_its_code() {
        let families = Families::default();
        let metrics = families.for_worker(vec![("worker", "docs".into())]);
        metrics.rpc_error(tonic::Code::ResourceExhausted);
        let labels = vec![
            ("worker", "docs".to_string()),
            ("code", "resource_exhausted".to_string()),
        ];
        assert_eq!(families.rpc_errors.get_or_create(&labels).get(), 1);
    }
}
