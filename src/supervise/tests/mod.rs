//! The runner and the worker state machines as tables, without processes or Temporal: a fake
//! [`Processes`] stands in for the operating system (it hands out pids, records signals and
//! reports the exits a test decides), and tokio's paused clock for time.

use std::cell::RefCell;
use std::collections::BTreeSet;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, advance};

use crate::cli::{self, Command};
use crate::config::{self, Config, Env, WorkerSpec, Workers};
use crate::endpoint::{DrainReport, Endpoint};
use crate::process::child::{Child, Pipes, Reaped, Spec};
use crate::process::command::SpawnError;
use crate::process::system::Processes;
use crate::serve::status::{RunState, Status};
use crate::supervise::Next;
use crate::supervise::launch::Launch;
use crate::supervise::runner::Runner;

mod doubt;
mod drains;
mod ending;
mod job_control;
mod outages;
mod restarts;

/// The operating system, as far as the supervisor can tell.
#[derive(Default)]
struct Fake {
    next_pid: RefCell<i32>,
    /// Every process started, in order.
    started: RefCell<Vec<Pid>>,
    /// Groups with a live process.
    alive: RefCell<BTreeSet<i32>>,
    /// Every signal sent: the pid, the signal, and whether to the whole group.
    signals: RefCell<Vec<(i32, Signal, bool)>>,
    /// Exits not reaped yet.
    exits: RefCell<Vec<(Pid, i32)>>,
    /// How many times the supervisor stopped itself.
    stopped_self: RefCell<u32>,
}

impl Fake {
    /// The process `pid` exits with `code` (its group goes with it).
    fn exit(&self, pid: Pid, code: i32) {
        self.alive.borrow_mut().remove(&pid.as_raw());
        self.exits.borrow_mut().push((pid, code));
    }

    fn started(&self) -> Vec<Pid> {
        self.started.borrow().clone()
    }

    /// The signals sent to groups so far.
    fn group_signals(&self) -> Vec<(i32, Signal)> {
        let signals = self.signals.borrow();
        signals
            .iter()
            .filter(|(_, _, group)| *group)
            .map(|&(pid, signal, _)| (pid, signal))
            .collect()
    }
}

impl Processes for Fake {
    fn spawn(&self, _: &Spec) -> Result<(Child, Option<Pipes>), SpawnError> {
        let mut next = self.next_pid.borrow_mut();
        *next += 1;
        let pid = Pid::from_raw(1000 + *next);
        self.started.borrow_mut().push(pid);
        self.alive.borrow_mut().insert(pid.as_raw());
        let started = Instant::now();
        Ok((Child { pid, started }, None))
    }

    fn signal(&self, pid: Pid, signal: Signal) {
        self.signals
            .borrow_mut()
            .push((pid.as_raw(), signal, false));
    }

    fn signal_group(&self, pid: Pid, signal: Signal) {
        self.signals.borrow_mut().push((pid.as_raw(), signal, true));
        if signal == Signal::SIGKILL && self.alive.borrow().contains(&pid.as_raw()) {
            self.exit(pid, 128 + Signal::SIGKILL as i32);
        }
    }

    fn group_alive(&self, pid: Pid) -> bool {
        self.alive.borrow().contains(&pid.as_raw())
    }

    fn reap(&self, known: &[Pid]) -> Reaped {
        let mut exits = self.exits.borrow_mut();
        let (mine, others): (Vec<_>, Vec<_>) =
            exits.drain(..).partition(|(p, _)| known.contains(p));
        *exits = others;
        Reaped {
            exits: mine,
            stopped: Vec::new(),
        }
    }

    fn take_terminal_back(&self) {}

    fn stop_with_worker(&self, _: Pid) {}

    fn stop_self(&self) {
        *self.stopped_self.borrow_mut() += 1;
    }
}

/// The configuration of `run` with these arguments (`run` and a command included).
fn config(args: &[&str]) -> Config {
    let argv = std::iter::once("temporal-supervisor").chain(args.iter().copied());
    let cli = cli::parse(argv.map(Into::into)).expect("valid arguments");
    let Command::Run { command } = &cli.command else {
        panic!("not run: {args:?}");
    };
    let env: Env = [("PATH".to_string(), "/usr/bin:/bin".to_string())]
        .into_iter()
        .collect();
    config::resolve(&cli.flags, Workers::Run(command), &env).expect("valid configuration")
}

/// A configuration file with these contents, and `run --config` with it.
fn config_file(toml: &str, extra: &[&str]) -> Config {
    let path = std::env::temp_dir().join(format!(
        "ts-supervise-{}-{}.toml",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::write(&path, toml).unwrap();
    let mut args = vec![
        "run",
        "--endpoint=false",
        "--config",
        path.to_str().unwrap(),
    ];
    args.extend(extra);
    let config = config(&args);
    std::fs::remove_file(&path).unwrap();
    config
}

/// A runner for `config` on the fake system.
fn runner<'a>(config: &'a Config, fake: &'a Fake) -> Runner<'a> {
    runner_draining(config, fake).0
}

/// A runner whose workers have their endpoints (on loopback; Temporal is not there), and where
/// their drains report.
fn runner_draining<'a>(
    config: &'a Config,
    fake: &'a Fake,
) -> (Runner<'a>, mpsc::Receiver<(usize, DrainReport)>) {
    let (_, well) = watch::channel(None);
    let (reports, _) = mpsc::channel(8);
    let (drains, drained) = mpsc::channel(8);
    let status = Status::new();
    let launch = Launch::prepare(config, status.clone(), well, (reports, drains), false, fake)
        .expect("programs");
    let endpoint = |worker: &WorkerSpec, (label, index): (&str, usize)| {
        let Some(listen) = worker.endpoint else {
            return Ok(None);
        };
        let metrics = status
            .metrics
            .endpoint
            .for_worker(status.worker_labels(index));
        let timing = (std::time::Duration::from_secs(1), label);
        Endpoint::bind(listen, (&config.connection, None), timing, metrics, None).map(Some)
    };
    (
        Runner::new(launch, endpoint).expect("endpoints listen"),
        drained,
    )
}

/// A probe started now found Temporal well.
fn confirm(runner: &mut Runner<'_>) -> Next {
    runner.temporal_confirmed(Instant::now())
}

/// Moves the paused clock to the runner's next timer and fires it.
async fn fire_timer(runner: &mut Runner<'_>) -> Next {
    let at = runner.timer().expect("a timer is set");
    advance(at.saturating_duration_since(Instant::now())).await;
    runner.on_timer()
}

fn state(runner: &Runner<'_>) -> RunState {
    runner.launch.status.state()
}

/// `run` with these options and a worker, without an endpoint (see the drains' tests for it).
fn run(options: &[&str]) -> Config {
    let mut args = vec!["run", "--endpoint=false"];
    args.extend(options);
    args.extend(["--", "sh", "-c", "exit 0"]);
    config(&args)
}

const SIGTERM_AND_CONT: [Signal; 2] = [Signal::SIGTERM, Signal::SIGCONT];
