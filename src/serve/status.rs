//! What the health endpoints and metrics report: the supervisor's state, Temporal's, and each
//! worker process's (under `watch`, each watched worker's). `run` or `watch` updates it; the
//! HTTP server reads it.
//!
//! | endpoint | 200 when |
//! |---|---|
//! | `/livez` | no stop is stuck (a process group that survived SIGKILL) |
//! | `/readyz` | Temporal is ready and every non-optional worker runs (and polls its task queues, where it has some); every worker process is listed, optional ones with `"optional": true` |
//! | `/readyz?worker=NAME` | Temporal is ready and that worker's processes run (and poll) |
//! | `/startupz` | Temporal was ready once and the workers started |

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::serve::metrics::{Labels, Metrics};
pub use crate::serve::states::{
    LastProbe, Report, Restart, RestartReason, RunState, WorkerReport, WorkerState,
};
use crate::temporal::failure::ProbeError;

/// How many recent restarts each worker's report lists.
const RECENT_RESTARTS: usize = 10;

/// The report and the metrics, shared by the supervisor and the HTTP server.
#[derive(Clone)]
pub struct Status {
    report: Arc<Mutex<Report>>,
    pub metrics: Arc<Metrics>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

impl Status {
    pub fn new() -> Status {
        Status {
            report: Arc::new(Mutex::new(Report {
                state: RunState::Starting,
                temporal_up: false,
                started: Instant::now(),
                first_ready: None,
                last_probe: None,
                workers: Vec::new(),
            })),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// The report, for the methods that read or update it; no guard leaves this module.
    fn lock(&self) -> MutexGuard<'_, Report> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The supervisor's state as a whole.
    #[cfg(test)]
    pub fn state(&self) -> RunState {
        self.lock().state
    }

    pub fn set_state(&self, state: RunState) {
        self.lock().state = state;
    }

    /// Whether Temporal was ready once.
    pub fn was_ready(&self) -> bool {
        self.lock().first_ready.is_some()
    }

    /// The state of the worker process at `index`.
    #[cfg(test)]
    pub fn worker_state(&self, index: usize) -> WorkerState {
        self.lock().workers[index].state
    }

    /// How many times the worker process at `index` was restarted for `reason`.
    #[cfg(test)]
    pub fn restarts(&self, index: usize, reason: RestartReason) -> u64 {
        let r = self.lock();
        r.workers[index].restarts.get(&reason).copied().unwrap_or(0)
    }

    /// Adds a worker process to the report, named `label` in the logs; returns its index.
    pub fn add_worker(&self, (name, replica): (&str, u32), label: &str, optional: bool) -> usize {
        let labels = vec![
            ("worker", name.to_string()),
            ("replica", replica.to_string()),
        ];
        self.metrics.child_up(&labels, false);
        let mut r = self.lock();
        r.workers.push(WorkerReport {
            name: name.to_string(),
            replica,
            label: label.to_string(),
            optional,
            state: WorkerState::WaitingForTemporal,
            pid: None,
            restarts: BTreeMap::new(),
            recent_restarts: VecDeque::new(),
            polling: None,
            pollers_seen: 0,
            poller_findings: Vec::new(),
            stuck: false,
            labels,
        });
        r.workers.len() - 1
    }

    /// Adds a worker that `watch` proves by its pollers alone: not ready until seen polling.
    pub fn add_watched(&self, name: &str, optional: bool) -> usize {
        let index = self.add_worker((name, 1), name, optional);
        let mut r = self.lock();
        r.workers[index].state = WorkerState::Watched;
        r.workers[index].polling = Some(false);
        index
    }

    /// The metric labels of a worker process.
    pub fn worker_labels(&self, index: usize) -> Labels {
        self.lock().workers[index].labels.clone()
    }

    pub fn set_worker_state(&self, index: usize, state: WorkerState) {
        self.lock().workers[index].state = state;
    }

    pub fn set_stuck(&self, index: usize) {
        self.lock().workers[index].stuck = true;
    }

    /// Records a restart of a worker process and why.
    pub fn restarted(&self, index: usize, reason: RestartReason, detail: &str) {
        let mut r = self.lock();
        let w = &mut r.workers[index];
        self.metrics.restarted(&w.labels, reason);
        *w.restarts.entry(reason).or_default() += 1;
        w.recent_restarts.push_back(Restart {
            reason,
            detail: detail.to_string(),
            at: unix_seconds(SystemTime::now()),
        });
        if w.recent_restarts.len() > RECENT_RESTARTS {
            w.recent_restarts.pop_front();
        }
    }

    pub fn set_child(&self, index: usize, pid: Option<i32>, checks_pollers: bool) {
        let mut r = self.lock();
        let w = &mut r.workers[index];
        self.metrics.child_up(&w.labels, pid.is_some());
        self.metrics.pollers_seen(&w.labels, 0);
        w.pid = pid;
        w.pollers_seen = 0;
        w.poller_findings.clear();
        w.polling = checks_pollers.then_some(false);
    }

    pub fn set_polling(&self, index: usize, polling: bool, seen: u64, findings: &[String]) {
        let mut r = self.lock();
        let w = &mut r.workers[index];
        self.metrics.pollers_seen(&w.labels, seen);
        w.polling = Some(polling);
        w.pollers_seen = seen;
        w.poller_findings = findings.to_vec();
    }

    /// Records a readiness result, from waiting or probing: its latency, or why it failed.
    pub fn probed(&self, result: Result<Duration, &ProbeError>) {
        let last = match result {
            Ok(latency) => {
                self.metrics.probe_ok(latency);
                LastProbe {
                    ok: true,
                    stage: None,
                    reason: None,
                    latency,
                    at: SystemTime::now(),
                }
            }
            Err(e) => {
                self.metrics.probe_failed(e.stage.as_str());
                LastProbe {
                    ok: false,
                    stage: Some(e.stage.as_str().into()),
                    reason: Some(e.reason.clone()),
                    latency: Duration::ZERO,
                    at: SystemTime::now(),
                }
            }
        };
        self.lock().last_probe = Some(last);
    }

    pub fn set_temporal_up(&self, up: bool) {
        self.metrics.temporal_up.set(up as i64);
        self.lock().temporal_up = up;
    }

    /// Marks the first readiness (only the first call counts).
    pub fn first_ready(&self) {
        let mut r = self.lock();
        if r.first_ready.is_none() {
            let took = r.started.elapsed();
            r.first_ready = Some(took);
            self.metrics.time_to_first_ready.set(took.as_secs_f64());
        }
    }

    /// Status code and JSON body for one of the probe endpoints; `worker` narrows `/readyz`
    /// to one worker. `None` for an unknown path or worker.
    pub fn answer(&self, path: &str, worker: Option<&str>) -> Option<(StatusCode, String)> {
        let r = self.lock();
        // Every worker process is listed; readiness is judged over the non-optional ones
        // (or over the one worker asked about).
        let listed: Vec<&WorkerReport> = match worker {
            Some(name) => r.workers.iter().filter(|w| w.name == name).collect(),
            None => r.workers.iter().collect(),
        };
        if worker.is_some() && listed.is_empty() {
            return None;
        }
        let chosen: Vec<&WorkerReport> = listed
            .iter()
            .copied()
            .filter(|w| worker.is_some() || !w.optional)
            .collect();
        // Why not, when not: `None` when the endpoint answers 200.
        let why_not = match path {
            // Never Temporal: an unreachable dependency must not get the worker restarted.
            "/livez" => r
                .workers
                .iter()
                .any(|w| w.stuck)
                .then(|| "a worker's process group survived SIGKILL".to_string()),
            "/readyz" => not_ready(&r, &chosen),
            "/startupz" => r
                .first_ready
                .is_none()
                .then(|| "Temporal has not been ready yet".to_string()),
            _ => return None,
        };
        let ok = why_not.is_none();
        let mut body = body(&r, &chosen, &listed, ok);
        body["reason"] = why_not.into();
        let code = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Some((code, format!("{body}\n")))
    }
}

/// Why `/readyz` is not 200, in words: Temporal first, then the supervisor, then the first
/// worker process that is not ready; `None` when ready.
fn not_ready(r: &Report, chosen: &[&WorkerReport]) -> Option<String> {
    if !r.temporal_up {
        return Some(match &r.last_probe {
            Some(LastProbe {
                ok: false,
                stage: Some(stage),
                reason: Some(reason),
                ..
            }) => format!("Temporal is not ready: {stage}: {reason}"),
            _ => "Temporal is not ready".into(),
        });
    }
    if r.state != RunState::Running {
        return Some(format!("the supervisor is {}", r.state.name()));
    }
    if chosen.is_empty() {
        return Some("no worker process to be ready".into());
    }
    let w = chosen.iter().find(|w| !w.ready())?;
    let label = &w.label;
    Some(match w.polling {
        Some(false) if w.runs() => format!(
            "worker {label} is not polling: {}",
            if w.poller_findings.is_empty() {
                "not seen polling yet".into()
            } else {
                w.poller_findings.join("; ")
            }
        ),
        _ => format!("worker {label} is {}", w.state.name()),
    })
}

/// The JSON body: the supervisor and Temporal, the readiness figures of the workers it was
/// judged over (`chosen`), every worker process `listed` (optional ones marked), and (for the
/// common case of one worker) that worker's fields at the top level as well.
fn body(r: &Report, chosen: &[&WorkerReport], listed: &[&WorkerReport], ok: bool) -> Value {
    let last_probe = r.last_probe.as_ref().map(|p| {
        json!({
            "ok": p.ok,
            "stage": p.stage,
            "reason": p.reason,
            "latency_ms": p.latency.as_secs_f64() * 1000.0,
            "at": unix_seconds(p.at),
        })
    });
    let mut restarts_by_reason: BTreeMap<RestartReason, u64> = BTreeMap::new();
    for w in chosen {
        for (&reason, n) in &w.restarts {
            *restarts_by_reason.entry(reason).or_default() += n;
        }
    }
    let single = (chosen.len() == 1).then(|| chosen[0]);
    let state = match single {
        Some(w) if r.state == RunState::Running => w.state.name(),
        _ => r.state.name(),
    };
    let polling = chosen
        .iter()
        .filter_map(|w| w.polling)
        .reduce(|a, b| a && b);
    json!({
        "status": if ok { "ok" } else { "unavailable" },
        "state": state,
        "temporal_up": r.temporal_up,
        "child_pid": single.and_then(|w| w.pid),
        "polling": polling,
        "pollers_seen": chosen.iter().map(|w| w.pollers_seen).sum::<u64>(),
        "poller_findings": chosen.iter().flat_map(|w| w.poller_findings.clone()).collect::<Vec<_>>(),
        "restarts": restarts_by_reason.values().sum::<u64>(),
        "restarts_by_reason": restarts_by_reason,
        "recent_restarts": single.map(|w| w.recent_restarts.clone()).unwrap_or_default(),
        "last_probe": last_probe,
        "first_ready_after_ms": r.first_ready.map(|d| d.as_millis() as u64),
        "workers": listed.iter().map(|w| w.json()).collect::<Vec<_>>(),
    })
}

pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_listed_by_reason_and_most_recent() {
        let status = Status::new();
        let index = status.add_worker(("a", 2), "a[2]", false);
        status.restarted(index, RestartReason::TemporalLost, "Temporal lost");
        status.restarted(index, RestartReason::Exited, "exited with code 1");
        let (_, body) = status.answer("/readyz", Some("a")).expect("a is known");
        assert!(
            body.contains(r#""restarts":2,"restarts_by_reason":{"exited":1,"temporal-lost":1}"#),
            "{body}"
        );
        assert!(
            body.contains(
                r#""recent_restarts":[{"reason":"temporal-lost","detail":"Temporal lost","at":"#
            ),
            "{body}"
        );
    }
}
