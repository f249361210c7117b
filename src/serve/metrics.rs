//! Prometheus metrics, encoded by the `prometheus-client` crate.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `temporal_supervisor_temporal_up` | gauge | 1 while Temporal counts as ready |
//! | `temporal_supervisor_probe_duration_seconds` | histogram | readiness attempts and probes that succeeded |
//! | `temporal_supervisor_probe_failures_total{stage}` | counter | failed attempts and probes, by stage |
//! | `temporal_supervisor_wait_attempts_total` | counter | readiness attempts while waiting |
//! | `temporal_supervisor_time_to_first_ready_seconds` | gauge | from start to the first readiness |
//! | `temporal_supervisor_child_up{worker,replica}` | gauge | 1 while that worker process runs |
//! | `temporal_supervisor_child_restarts_total{worker,replica,reason}` | counter | `temporal-lost`, `exited`, `not-polling` |
//! | `temporal_supervisor_pollers_seen{worker,replica}` | gauge | live pollers of that worker process on its task queues |
//! | `temporal_supervisor_log_lines_dropped_total{reason}` | counter | our log lines lost: `queue-full` (stderr blocked), `write-failed` (closed pipe, full disk) |
//! | `temporal_supervisor_health_connections_shed_total{reason}` | counter | health connections ended by us: `budget` (the oldest idle one, to make room), `deadline` (too slow), `all-busy` (a new one, while every other was being served) |
//!
//! And each worker's endpoint's, listed in [`crate::endpoint::metrics`].

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::endpoint::metrics::Families;
pub use crate::serve::states::Labels;
use crate::serve::states::RestartReason;

/// A worker process's restarts for one reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestartLabels {
    #[prometheus(flatten)]
    worker: Labels,
    reason: RestartReason,
}

/// The metric handles (cheap to clone: each is shared) and their registry.
pub struct Metrics {
    registry: Registry,
    pub temporal_up: Gauge,
    pub probe_duration: Histogram,
    probe_failures: Family<Labels, Counter>,
    pub wait_attempts: Counter,
    pub time_to_first_ready: Gauge<f64, AtomicU64>,
    child_up: Family<Labels, Gauge>,
    child_restarts: Family<RestartLabels, Counter>,
    pollers_seen: Family<Labels, Gauge>,
    health_connections_shed: Family<Labels, Counter>,
    /// The endpoints' families.
    pub endpoint: Families,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("temporal_supervisor");
        let m = Metrics {
            temporal_up: Gauge::default(),
            // 1 ms to about 16 s.
            probe_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            probe_failures: Family::default(),
            wait_attempts: Counter::default(),
            time_to_first_ready: Gauge::default(),
            child_up: Family::default(),
            child_restarts: Family::default(),
            pollers_seen: Family::default(),
            health_connections_shed: Family::default(),
            endpoint: Families::default(),
            registry: Registry::default(),
        };
        m.endpoint.register(&mut registry);
        registry.register(
            "temporal_up",
            "1 while Temporal counts as ready",
            m.temporal_up.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Duration of successful readiness attempts and probes",
            m.probe_duration.clone(),
        );
        registry.register(
            "probe_failures",
            "Failed readiness attempts and probes, by stage",
            m.probe_failures.clone(),
        );
        registry.register(
            "wait_attempts",
            "Readiness attempts while waiting for Temporal",
            m.wait_attempts.clone(),
        );
        registry.register(
            "time_to_first_ready_seconds",
            "Seconds from start to the first readiness",
            m.time_to_first_ready.clone(),
        );
        registry.register(
            "child_up",
            "1 while the worker process runs",
            m.child_up.clone(),
        );
        registry.register(
            "child_restarts",
            "Worker restarts, by reason",
            m.child_restarts.clone(),
        );
        registry.register(
            "pollers_seen",
            "Live pollers of the worker process on its task queues",
            m.pollers_seen.clone(),
        );
        registry.register(
            "health_connections_shed",
            "Health endpoint connections ended by the supervisor, by reason",
            m.health_connections_shed.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines of the supervisor lost, by reason",
            crate::logging::LINES_DROPPED.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn probe_ok(&self, latency: Duration) {
        self.probe_duration.observe(latency.as_secs_f64());
    }

    pub fn probe_failed(&self, stage: &str) {
        self.probe_failures
            .get_or_create(&vec![("stage", stage.to_string())])
            .inc();
    }

    pub fn restarted(&self, worker: &Labels, reason: RestartReason) {
        let labels = RestartLabels {
            worker: worker.clone(),
            reason,
        };
        self.child_restarts.get_or_create(&labels).inc();
    }

    pub fn child_up(&self, worker: &Labels, up: bool) {
        self.child_up.get_or_create(worker).set(up as i64);
    }

    pub fn pollers_seen(&self, worker: &Labels, seen: u64) {
        self.pollers_seen.get_or_create(worker).set(seen as i64);
    }

    pub fn health_connection_shed(&self, reason: &str) {
        self.health_connections_shed
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_is_counted_by_worker_replica_and_reason() {
        let metrics = Metrics::new();
        let worker = vec![("worker", "a".to_string()), ("replica", "2".to_string())];
        metrics.restarted(&worker, RestartReason::NotPolling);
        let line = "temporal_supervisor_child_restarts_total{worker=\"a\",replica=\"2\",\
                    reason=\"not-polling\"} 1\n";
        assert!(metrics.encode().contains(line), "{}", metrics.encode());
    }
}
