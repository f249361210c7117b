//! `run`: the supervisor's life as an explicit state machine.
//!
//! ```text
//!                 Temporal ready                     worker exits by itself,
//!  WaitingForTemporal ──────────▶ Running ─────────▶ policy says restart ──▶ BackingOff
//!        ▲     │ gave up: exit 69   │   │                                        │
//!        │     ▼                    │   │ worker exits by itself, no restart:    │ delay over
//!        │   (exit)                 │   ▼ exit with its code                     │
//!        │                          │ Temporal lost (restart | exit) or SIGTERM/SIGINT
//!        │                          ▼                                            │
//!        └──── Temporal lost ──── Stopping ──▶ exit: the worker's code (signal), │
//!              (restart)            │          or 69 (--on-disconnect exit)      │
//!        ▲                                                                       │
//!        └───────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Events are what happened: a signal, a probe result, a finished wait, a timer. Each has one
//! handler that looks at the current state; every transition is logged with its reason.
//! Stopping sends `--stop-signal` to the worker's process group, waits until every process of
//! the group is gone, and SIGKILLs the group when `--stop-timeout` runs out. A second
//! SIGTERM/SIGINT during a stop does not shorten the grace period; it only makes sure the
//! supervisor exits afterwards instead of starting a new worker.

use std::ffi::OsString;
use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use crate::config::{Config, OnDisconnect, RestartPolicy};
use crate::duration;
use crate::exit;
use crate::process::child::{self, Child};
use crate::process::signals::{FORWARDED, Signals};
use crate::serve::health::{self, Status};
use crate::temporal::gate::{self, GaveUp};
use crate::temporal::monitor::{Monitor, MonitorEvent};
use crate::temporal::pollers::PollerCheck;
use crate::temporal::probe::{Prober, Ready, Stage};

/// How often to look whether the rest of a stopping worker's process group is gone.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// How long to wait for a SIGKILLed group to vanish before carrying on regardless (a process
/// stuck in uninterruptible sleep cannot be waited for forever).
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What the supervisor is doing.
enum State {
    /// No worker; waiting for Temporal with the backoff schedule.
    WaitingForTemporal,
    /// The worker runs and Temporal is probed.
    Running { child: Child },
    /// The worker was asked to stop; SIGKILL at `kill_at`.
    Stopping {
        child: Child,
        why: StopReason,
        kill_at: Instant,
        killed: bool,
        /// The worker's exit code once it exited (other group members may linger).
        exit: Option<i32>,
    },
    /// The worker exited by itself; a new one starts after the delay.
    BackingOff { until: Instant },
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::WaitingForTemporal => "waiting-for-temporal",
            State::Running { .. } => "running",
            State::Stopping { .. } => "stopping",
            State::BackingOff { .. } => "backing-off",
        }
    }
}

/// Why the worker is being stopped, which decides what follows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StopReason {
    /// SIGTERM or SIGINT: exit with the worker's code afterwards.
    Shutdown(Signal),
    /// Temporal was lost: wait and start a new worker, or exit 69.
    TemporalLost,
    /// The worker does not poll its task queues while Temporal is fine: start a new one.
    NotPolling,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Shutdown(signal) => write!(f, "{} received", signal.as_str()),
            StopReason::TemporalLost => f.write_str("Temporal lost"),
            StopReason::NotPolling => f.write_str("worker not polling"),
        }
    }
}

/// What happened.
enum Event {
    Signal(Signal),
    Monitor(MonitorEvent),
    WaitFinished(Result<Ready, GaveUp>),
    Timer,
}

type WaitFuture = Pin<Box<dyn Future<Output = Result<Ready, GaveUp>>>>;

struct Supervisor<'a> {
    config: &'a Config,
    spec: child::Spec,
    prober: Prober,
    state: State,
    /// Temporal as the monitor last judged it (thresholds applied).
    temporal_up: bool,
    monitor: Option<Monitor>,
    wait: Option<WaitFuture>,
    /// Restarts after the worker exited by itself, counted against `--max-restarts`.
    restarts: u32,
    /// Consecutive quick failures, for the restart delay; reset after a stable run.
    crash_streak: u32,
    /// Whether the current worker was seen polling its task queues.
    seen_polling: bool,
    /// What the health endpoints and metrics report.
    status: Status,
}

/// Runs the supervisor until it exits; returns the exit code.
pub async fn run(config: &Config, command: Vec<OsString>) -> u8 {
    if let Err(e) = child::become_subreaper() {
        warn!("cannot become a child subreaper ({e}); orphans of the worker go to init");
    }
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return exit::OS_ERROR;
        }
    };
    let status = Status::new();
    let _server = match config.health.listen {
        // Bound before waiting for Temporal, so the kubelet gets answers at once.
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                info!(%addr, "serving /livez, /readyz, /startupz and /metrics");
                Some(AbortOnDrop(tokio::spawn(health::serve(
                    listener,
                    status.clone(),
                ))))
            }
            Err(e) => {
                error!("cannot listen on {addr} for health endpoints: {e}");
                return exit::OS_ERROR;
            }
        },
        None => None,
    };
    let mut s = Supervisor {
        config,
        spec: worker_spec(config, command),
        prober: Prober::new(config.connection.clone()),
        state: State::WaitingForTemporal,
        temporal_up: false,
        monitor: None,
        wait: None,
        restarts: 0,
        crash_streak: 0,
        seen_polling: false,
        status,
    };
    s.start_waiting();
    loop {
        let timer = s.timer();
        let event = tokio::select! {
            signal = signals.recv() => Event::Signal(signal),
            Some(event) = next_monitor_event(&mut s.monitor) => Event::Monitor(event),
            result = finish_wait(&mut s.wait) => Event::WaitFinished(result),
            () = sleep_until_some(timer) => Event::Timer,
        };
        if let Some(code) = s.handle(event) {
            return code;
        }
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn next_monitor_event(monitor: &mut Option<Monitor>) -> Option<MonitorEvent> {
    match monitor {
        Some(m) => m.recv().await,
        None => std::future::pending().await,
    }
}

async fn finish_wait(wait: &mut Option<WaitFuture>) -> Result<Ready, GaveUp> {
    let Some(future) = wait else {
        return std::future::pending().await;
    };
    let result = future.await;
    *wait = None;
    result
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Supervisor<'_> {
    /// One handler per event; `Some(code)` ends the supervisor.
    fn handle(&mut self, event: Event) -> Option<u8> {
        match event {
            Event::Signal(Signal::SIGCHLD) => self.on_sigchld(),
            Event::Signal(signal @ (Signal::SIGTERM | Signal::SIGINT)) => {
                self.on_stop_request(signal)
            }
            Event::Signal(signal) => {
                self.on_forwarded_signal(signal);
                None
            }
            Event::Monitor(event) => self.on_monitor(event),
            Event::WaitFinished(result) => self.on_wait_finished(result),
            Event::Timer => self.on_timer(),
        }
    }

    /// Enters a new state; logs the transition as one line with the event and its reason.
    fn transition(&mut self, to: State, event: &'static str, reason: impl fmt::Display) {
        self.transition_from(self.state.name(), to, event, reason);
    }

    /// For handlers that took the old state apart to build the new one.
    fn transition_from(
        &mut self,
        from: &'static str,
        to: State,
        event: &'static str,
        reason: impl fmt::Display,
    ) {
        info!(state = to.name(), previous = from, event, "{reason}");
        self.status.report().state = to.name();
        self.state = to;
    }

    /// When the next timer fires, if the state needs one.
    fn timer(&self) -> Option<Instant> {
        match &self.state {
            State::Stopping {
                kill_at,
                killed,
                exit,
                ..
            } => {
                if exit.is_some() || *killed {
                    Some(Instant::now() + GROUP_POLL)
                } else {
                    Some(*kill_at)
                }
            }
            State::BackingOff { until } => Some(*until),
            State::WaitingForTemporal | State::Running { .. } => None,
        }
    }

    fn child(&self) -> Option<&Child> {
        match &self.state {
            State::Running { child } | State::Stopping { child, .. } => Some(child),
            _ => None,
        }
    }

    fn start_waiting(&mut self) {
        let prober = self.prober.clone();
        let wait = self.config.wait.clone();
        let status = self.status.clone();
        self.status.set_temporal_up(false);
        self.status.report().state = State::WaitingForTemporal.name();
        self.wait = Some(Box::pin(async move {
            gate::wait_until_ready(&prober, &wait, Some(&status)).await
        }));
    }

    // --- events ---------------------------------------------------------------------------

    fn on_wait_finished(&mut self, result: Result<Ready, GaveUp>) -> Option<u8> {
        let Ok(ready) = result else {
            error!("Temporal never became ready; exiting");
            return Some(exit::UNAVAILABLE);
        };
        self.status.set_temporal_up(true);
        let child = match child::spawn(&self.spec) {
            Ok(child) => child,
            Err(e) => {
                error!("{}", e.message);
                return Some(e.code);
            }
        };
        let pid = child.pid.as_raw();
        info!(child_pid = pid, command = %self.spec.shown(), "worker started");
        self.status.first_ready();
        self.status.set_child(Some(pid));
        let pollers = PollerCheck::new(&self.config.health.pollers, &self.config.connection, pid);
        if let Some(check) = &pollers {
            self.status.set_polling(false, 0, &[]);
            info!(
                child_pid = pid,
                identity = %check.identity(),
                deployment = check.deployment().unwrap_or_else(|| "any".into()),
                deadline = %duration::format(self.config.health.pollers.deadline),
                "watching the worker's pollers"
            );
        }
        self.seen_polling = false;
        self.temporal_up = true;
        self.monitor = Some(Monitor::start(
            self.prober.clone(),
            self.config.monitor.clone(),
            Some(ready.connection),
            pollers,
        ));
        self.transition(
            State::Running { child },
            "temporal-ready",
            "running; watching Temporal",
        );
        None
    }

    fn on_sigchld(&mut self) -> Option<u8> {
        let reaped = child::reap(self.child().map(|c| c.pid));
        if reaped.orphans > 0 {
            debug!(count = reaped.orphans, "reaped orphaned processes");
        }
        let code = reaped.main_exit?;
        self.on_worker_exited(code)
    }

    fn on_worker_exited(&mut self, code: i32) -> Option<u8> {
        match &mut self.state {
            State::Running { child } => {
                let (pid, ran) = (child.pid.as_raw(), child.started.elapsed());
                let leftovers = child::kill_leftovers(child);
                self.monitor = None;
                self.status.set_child(None);
                info!(child_pid = pid, code, ran = %duration::format(ran), "worker exited by itself");
                if leftovers {
                    warn!(
                        child_pid = pid,
                        "killed what was left of the worker's process group"
                    );
                }
                self.after_worker_exit(code, ran)
            }
            State::Stopping { child, exit, .. } => {
                info!(child_pid = child.pid.as_raw(), code, "worker exited");
                *exit = Some(code);
                self.status.set_child(None);
                self.on_timer()
            }
            State::WaitingForTemporal | State::BackingOff { .. } => None,
        }
    }

    /// The restart policy, for a worker that exited by itself.
    fn after_worker_exit(&mut self, code: i32, ran: Duration) -> Option<u8> {
        let run = &self.config.run;
        let restart = match run.restart {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Always => true,
        };
        if !restart {
            info!(
                code,
                "not restarting (--restart {}); exiting with the worker's code",
                policy_name(run.restart)
            );
            return Some(code as u8);
        }
        if run.max_restarts != 0 && self.restarts >= run.max_restarts {
            warn!(
                code,
                restarts = self.restarts,
                "restart limit reached; exiting with the worker's code"
            );
            return Some(code as u8);
        }
        if ran >= run.restart_reset_after {
            self.crash_streak = 0;
        }
        self.crash_streak += 1;
        self.restarts += 1;
        let delay = run.restart_backoff.next_delay(self.crash_streak);
        self.status
            .restarted("exited", &format!("exited with code {code}"));
        self.transition(
            State::BackingOff {
                until: Instant::now() + delay,
            },
            "child-exited",
            format!(
                "worker exited with code {code} after {}; restart {} in {}",
                duration::format(ran),
                self.restarts,
                duration::format(delay)
            ),
        );
        None
    }

    fn on_stop_request(&mut self, signal: Signal) -> Option<u8> {
        match &mut self.state {
            State::WaitingForTemporal | State::BackingOff { .. } => {
                info!(
                    "{} received with no worker running; exiting",
                    signal.as_str()
                );
                Some(128 + signal as u8)
            }
            State::Running { .. } => {
                self.begin_stop(StopReason::Shutdown(signal));
                None
            }
            State::Stopping { why, kill_at, .. } => {
                *why = StopReason::Shutdown(signal);
                let left = kill_at.saturating_duration_since(Instant::now());
                info!(
                    "{} received while stopping; the grace period continues (SIGKILL in {}), then exit",
                    signal.as_str(),
                    duration::format(left)
                );
                None
            }
        }
    }

    fn begin_stop(&mut self, why: StopReason) {
        let from = self.state.name();
        let State::Running { child } =
            std::mem::replace(&mut self.state, State::WaitingForTemporal)
        else {
            unreachable!("begin_stop is only called while running");
        };
        self.monitor = None;
        let run = &self.config.run;
        child.signal_group(run.stop_signal);
        let reason = format!(
            "{why}: sent {} to the worker's process group (pid {}), SIGKILL in {}",
            run.stop_signal.as_str(),
            child.pid,
            duration::format(run.stop_timeout)
        );
        self.transition_from(
            from,
            State::Stopping {
                child,
                why,
                kill_at: Instant::now() + run.stop_timeout,
                killed: false,
                exit: None,
            },
            "stop-requested",
            reason,
        );
    }

    fn on_forwarded_signal(&mut self, signal: Signal) {
        debug_assert!(FORWARDED.contains(&signal));
        match self.child() {
            Some(child) => {
                child.signal(signal);
                info!(
                    child_pid = child.pid.as_raw(),
                    "forwarded {} to the worker",
                    signal.as_str()
                );
            }
            None => info!(
                "{} received with no worker running; ignored",
                signal.as_str()
            ),
        }
    }

    fn on_monitor(&mut self, event: MonitorEvent) -> Option<u8> {
        match event {
            MonitorEvent::WatchEnded(reason) => {
                info!("{reason}; probing now");
                None
            }
            MonitorEvent::Pollers(report) => self.on_pollers(report),
            MonitorEvent::Probe {
                result: Ok(latency),
                ..
            } => {
                debug!(latency = %duration::format(latency), "probe succeeded");
                self.status.probed(true, None, None, latency);
                None
            }
            MonitorEvent::Probe {
                result: Err(e),
                failures,
            } => {
                self.status.probed(
                    false,
                    Some(e.stage.as_str()),
                    Some(&e.reason),
                    Duration::ZERO,
                );
                let threshold = self.config.monitor.failure_threshold;
                if e.stage == Stage::Auth {
                    error!(stage = %e.stage, reason = %e.reason, failures, failure_threshold = threshold, "probe failed");
                } else {
                    warn!(stage = %e.stage, reason = %e.reason, failures, failure_threshold = threshold, "probe failed");
                }
                None
            }
            MonitorEvent::Lost => {
                self.temporal_up = false;
                self.status.set_temporal_up(false);
                self.on_temporal_lost()
            }
            MonitorEvent::Back => {
                self.temporal_up = true;
                self.status.set_temporal_up(true);
                info!("Temporal is back");
                None
            }
        }
    }

    /// The worker's pollers, seen after a good probe: Temporal is fine, so a worker that does
    /// not poll is wedged.
    fn on_pollers(
        &mut self,
        report: Result<crate::temporal::pollers::PollerReport, crate::temporal::probe::ProbeError>,
    ) -> Option<u8> {
        let State::Running { child } = &self.state else {
            return None;
        };
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                debug!(reason = %e.reason, "could not check the worker's pollers");
                return None;
            }
        };
        self.status
            .set_polling(report.polling, report.seen, &report.findings);
        if report.polling {
            if !self.seen_polling {
                info!(
                    child_pid = child.pid.as_raw(),
                    pollers = report.seen,
                    "worker is polling"
                );
            }
            self.seen_polling = true;
            return None;
        }
        if !self.temporal_up {
            return None;
        }
        let deadline = self.config.health.pollers.deadline;
        let findings = report.findings.join("; ");
        let wedged = if self.seen_polling {
            Some(format!("its pollers are gone: {findings}"))
        } else if child.started.elapsed() >= deadline {
            Some(format!(
                "not polling within {}: {findings}",
                duration::format(deadline)
            ))
        } else {
            None
        };
        if let Some(why) = wedged {
            warn!(child_pid = child.pid.as_raw(), reason = %why, "worker not polling");
            self.status.restarted("not-polling", &why);
            self.begin_stop(StopReason::NotPolling);
        }
        None
    }

    fn on_temporal_lost(&mut self) -> Option<u8> {
        if !matches!(self.state, State::Running { .. }) {
            return None;
        }
        match self.config.run.on_disconnect {
            OnDisconnect::Restart => {
                self.status.restarted("temporal-lost", "Temporal lost");
                self.begin_stop(StopReason::TemporalLost)
            }
            OnDisconnect::Exit => self.begin_stop(StopReason::TemporalLost),
            OnDisconnect::Ignore => {
                warn!("Temporal lost; keeping the worker (--on-disconnect ignore)")
            }
        }
        None
    }

    fn on_timer(&mut self) -> Option<u8> {
        match &mut self.state {
            State::BackingOff { until } if Instant::now() >= *until => {
                self.transition(State::WaitingForTemporal, "timer", "restart delay over");
                self.start_waiting();
                None
            }
            State::Stopping {
                child,
                why,
                kill_at,
                killed,
                exit,
            } => {
                let reaped = child::reap(if exit.is_none() {
                    Some(child.pid)
                } else {
                    None
                });
                if let Some(code) = reaped.main_exit {
                    *exit = Some(code);
                }
                if exit.is_some() && !child.group_alive() {
                    let (why, code) = (*why, exit.unwrap_or(0));
                    return self.after_stop(why, code);
                }
                let now = Instant::now();
                if !*killed && now >= *kill_at {
                    warn!(
                        child_pid = child.pid.as_raw(),
                        "stop timeout over; sent SIGKILL to the worker's process group"
                    );
                    child.signal_group(Signal::SIGKILL);
                    *killed = true;
                    *kill_at = now + KILL_GRACE;
                } else if *killed && now >= *kill_at {
                    error!(
                        child_pid = child.pid.as_raw(),
                        "processes of the worker's group survive SIGKILL; carrying on"
                    );
                    self.status.report().stuck = true;
                    let (why, code) = (*why, exit.unwrap_or(128 + Signal::SIGKILL as i32));
                    return self.after_stop(why, code);
                }
                None
            }
            _ => None,
        }
    }

    /// The worker and its group are gone: exit or wait for Temporal again.
    fn after_stop(&mut self, why: StopReason, code: i32) -> Option<u8> {
        match why {
            StopReason::Shutdown(signal) => {
                info!(
                    code,
                    "worker stopped after {}; exiting with its code",
                    signal.as_str()
                );
                Some(code as u8)
            }
            StopReason::TemporalLost if self.config.run.on_disconnect == OnDisconnect::Exit => {
                info!(code, "worker stopped; exiting 69 (--on-disconnect exit)");
                Some(exit::UNAVAILABLE)
            }
            StopReason::TemporalLost => {
                self.transition(
                    State::WaitingForTemporal,
                    "child-stopped",
                    format!("worker stopped (code {code}); waiting for Temporal to come back"),
                );
                self.start_waiting();
                None
            }
            StopReason::NotPolling => {
                self.transition(
                    State::WaitingForTemporal,
                    "child-stopped",
                    format!("worker stopped (code {code}); starting a new one"),
                );
                self.start_waiting();
                None
            }
        }
    }
}

/// How to start the worker: with the connection handed over (unless turned off).
fn worker_spec(config: &Config, command: Vec<OsString>) -> child::Spec {
    let mut env = Vec::new();
    if config.run.export_connection {
        env = config.connection.worker_env();
        if let Some(deployment) = &config.health.pollers.deployment {
            env.push((
                "TEMPORAL_DEPLOYMENT_NAME".into(),
                Some(deployment.name.clone()),
            ));
            env.push((
                "TEMPORAL_WORKER_BUILD_ID".into(),
                Some(deployment.build_id.clone()),
            ));
        }
    }
    child::Spec {
        command,
        env,
        stop_signal: config.run.stop_signal,
    }
}

fn policy_name(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Never => "never",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    }
}
