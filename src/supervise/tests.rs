//! The runner and the worker state machines as tables, without processes or Temporal: a fake
//! [`Processes`] stands in for the operating system (it hands out pids, records signals and
//! reports the exits a test decides), and tokio's paused clock for time.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, advance};

use crate::cli::{self, Command};
use crate::config::{self, Config, Env, WorkerSpec, Workers};
use crate::endpoint::{DrainEnd, DrainReport, Endpoint};
use crate::process::child::{Child, Pipes, Reaped, Spec};
use crate::process::command::SpawnError;
use crate::process::system::Processes;
use crate::serve::status::{RunState, Status};
use crate::supervise::launch::Launch;
use crate::supervise::runner::{Next, Runner};

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
        let timing = (Duration::from_secs(1), label);
        Endpoint::bind(listen, &config.connection, timing, metrics, None).map(Some)
    };
    (
        Runner::new(launch, endpoint).expect("endpoints listen"),
        drained,
    )
}

/// Moves the paused clock to the runner's next timer and fires it.
async fn fire_timer(runner: &mut Runner<'_>) -> Next {
    let at = runner.timer().expect("a timer is set");
    advance(at.saturating_duration_since(Instant::now())).await;
    runner.on_timer()
}

fn state(runner: &Runner<'_>) -> RunState {
    runner.launch.status.report().state
}

/// `run` with these options and a worker, without an endpoint (see the drain's tests for it).
fn run(options: &[&str]) -> Config {
    let mut args = vec!["run", "--endpoint=false"];
    args.extend(options);
    args.extend(["--", "sh", "-c", "exit 0"]);
    config(&args)
}

const SIGTERM_AND_CONT: [Signal; 2] = [Signal::SIGTERM, Signal::SIGCONT];

#[tokio::test(start_paused = true)]
async fn a_crashing_worker_backs_off_and_starts_again() {
    let fake = Fake::default();
    let config = run(&["--restart-delay", "1s", "--jitter", "0"]);
    let mut runner = runner(&config, &fake);
    assert_eq!(runner.temporal_ready(), Next::Continue);
    fake.exit(fake.started()[0], 3);
    assert_eq!(runner.reap(), Next::Continue);
    let delay = runner.timer().map(|t| t - Instant::now());
    assert_eq!(delay, Some(Duration::from_secs(1)));
    assert_eq!(fake.started().len(), 1, "nothing starts before the delay");
    assert_eq!(fire_timer(&mut runner).await, Next::Continue);
    assert_eq!(fake.started().len(), 2, "started again after the delay");
}

#[tokio::test(start_paused = true)]
async fn the_restart_policy_decides_which_exits_end_run() {
    // (policy, exit code, whether run ends, and with what)
    let cases = [
        ("never", 0, Some(0)),
        ("never", 3, Some(3)),
        ("on-failure", 0, Some(0)),
        ("on-failure", 3, None),
        ("always", 0, None),
    ];
    for (policy, code, ends) in cases {
        let fake = Fake::default();
        let config = run(&["--restart", policy]);
        let mut runner = runner(&config, &fake);
        runner.temporal_ready();
        fake.exit(fake.started()[0], code);
        let expected = match ends {
            Some(c) => Next::Exit(c),
            None => Next::Continue,
        };
        assert_eq!(runner.reap(), expected, "--restart {policy}, exit {code}");
    }
}

#[tokio::test(start_paused = true)]
async fn keep_leaves_the_worker_alone_and_starts_none_into_the_outage() {
    let fake = Fake::default();
    let config = run(&["--restart-spread", "2s"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];

    assert_eq!(
        runner.temporal_lost(),
        Next::Wait,
        "wait again, without a limit"
    );
    assert_eq!(state(&runner), RunState::TemporalLost);
    assert!(fake.group_signals().is_empty(), "the worker is left alone");

    // It exits during the outage: its restart waits for Temporal, whatever the delay.
    fake.exit(worker, 1);
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(runner.timer(), None, "no restart into the outage");
    advance(Duration::from_secs(600)).await;
    assert_eq!(runner.on_timer(), Next::Continue);
    assert_eq!(fake.started().len(), 1);

    // Back: started at a random moment within the spread.
    assert_eq!(runner.temporal_ready(), Next::Continue);
    let after = runner.timer().expect("a start is due") - Instant::now();
    assert!(after <= Duration::from_secs(2), "{after:?}");
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
    assert_eq!(state(&runner), RunState::Running);
}

#[tokio::test(start_paused = true)]
async fn an_exit_the_outage_caused_does_not_grow_the_crash_loop_delay() {
    let fake = Fake::default();
    let config = run(&[
        "--restart-delay",
        "1s",
        "--jitter",
        "0",
        "--restart-spread",
        "0",
    ]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    runner.temporal_lost();
    fake.exit(fake.started()[0], 1);
    runner.reap();
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    // The next crash, with Temporal up, backs off from --restart-delay: 1 s, not 2 s.
    fake.exit(fake.started()[1], 1);
    runner.reap();
    let delay = runner.timer().map(|t| t - Instant::now());
    assert_eq!(delay, Some(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn restart_stops_the_worker_and_the_return_starts_a_new_one() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "restart", "--restart-spread", "0"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.temporal_lost(), Next::Wait);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "the stop signal, then SIGCONT");
    assert_eq!(state(&runner), RunState::Stopping);
    fake.exit(worker, 0);
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(state(&runner), RunState::WaitingForTemporal);
    assert_eq!(runner.timer(), None);
    runner.temporal_ready();
    fire_timer(&mut runner).await;
    assert_eq!(fake.started().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn exit_stops_the_worker_and_ends_run_with_69() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "exit"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(
        runner.temporal_lost(),
        Next::StopWatching,
        "no more watching; stopping first"
    );
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(69));
}

#[tokio::test(start_paused = true)]
async fn ignore_only_says_so_and_keeps_watching() {
    let fake = Fake::default();
    let config = run(&["--on-disconnect", "ignore"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(
        runner.temporal_lost(),
        Next::Continue,
        "the monitor goes on"
    );
    assert_eq!(state(&runner), RunState::Running);
    assert!(fake.group_signals().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stop_signal_ignored_for_the_stop_timeout_gets_sigkill() {
    let fake = Fake::default();
    let config = run(&["--stop-timeout", "5s"]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(
        fire_timer(&mut runner).await,
        Next::Continue,
        "SIGKILL sent"
    );
    // The killed worker is reaped (SIGCHLD, or the next look at its group).
    assert_eq!(runner.reap(), Next::Exit(137));
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, [Signal::SIGTERM, Signal::SIGCONT, Signal::SIGKILL]);
    assert!(!fake.group_alive(worker));
}

const THREE: &str = r#"
[workers.a]
command = ["sh", "-c", "exit 0"]

[workers.b]
command = ["sh", "-c", "exit 0"]

[workers.c]
command = ["sh", "-c", "exit 0"]
optional = true
"#;

#[tokio::test(start_paused = true)]
async fn a_stop_ends_with_the_first_non_zero_code_in_file_order() {
    // (exit codes of a, b and the optional c after SIGTERM, the code run ends with)
    let cases = [
        ([0, 0, 0], 0),
        ([0, 5, 0], 5),
        ([3, 5, 0], 3),
        ([0, 0, 9], 0),
    ];
    for (codes, expected) in cases {
        let fake = Fake::default();
        let config = config_file(THREE, &[]);
        let mut runner = runner(&config, &fake);
        runner.temporal_ready();
        assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
        for (pid, code) in fake.started().into_iter().zip(codes) {
            fake.exit(pid, code);
        }
        assert_eq!(runner.reap(), Next::Exit(expected), "{codes:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_worker_ends_run_unless_optional() {
    let file = format!("restart = \"never\"\n{THREE}");
    // The optional worker fails: run goes on.
    let fake = Fake::default();
    let config = config_file(&file, &[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let [a, b, c] = fake.started()[..] else {
        panic!("three workers");
    };
    fake.exit(c, 4);
    assert_eq!(runner.reap(), Next::Continue);
    assert!(fake.group_signals().is_empty(), "nobody else is stopped");
    // A non-optional one fails: the others are stopped, run ends with its code.
    fake.exit(b, 7);
    assert_eq!(runner.reap(), Next::Continue);
    let stopped: Vec<_> = fake.group_signals().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        stopped,
        [a.as_raw(), a.as_raw()],
        "a gets SIGTERM and SIGCONT"
    );
    fake.exit(a, 0);
    assert_eq!(runner.reap(), Next::Exit(7));
}

#[tokio::test(start_paused = true)]
async fn every_worker_done_by_itself_ends_run() {
    let file = format!("restart = \"on-failure\"\n{THREE}");
    let fake = Fake::default();
    let config = config_file(&file, &[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    let [a, b, _c] = fake.started()[..] else {
        panic!("three workers");
    };
    fake.exit(a, 0);
    assert_eq!(runner.reap(), Next::Continue, "b still runs");
    fake.exit(b, 0);
    // Both non-optional workers are done: the optional one is stopped, then run ends.
    assert_eq!(runner.reap(), Next::Continue);
    assert_eq!(state(&runner), RunState::Stopping);
}

#[tokio::test(start_paused = true)]
async fn a_loss_while_stopping_ends_the_watch_and_changes_no_code() {
    let fake = Fake::default();
    let config = run(&[]);
    let mut runner = runner(&config, &fake);
    runner.temporal_ready();
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(runner.temporal_lost(), Next::StopWatching);
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(0), "the signal's rule, not 69");
}

/// `run` with its default endpoint and a worker.
fn run_with_endpoint(options: &[&str]) -> Config {
    let mut args = vec!["run"];
    args.extend(options);
    args.extend(["--", "sh", "-c", "exit 0"]);
    config(&args)
}

#[tokio::test(start_paused = true)]
async fn a_stop_drains_first_then_signals_and_an_orderly_stop_exits_0() {
    let fake = Fake::default();
    let config = run_with_endpoint(&["--stop-timeout", "25s", "--stop-grace", "5s"]);
    let (mut runner, mut drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    assert_eq!(runner.stop_requested(Signal::SIGTERM), Next::Continue);
    assert_eq!(state(&runner), RunState::Draining);
    assert!(fake.group_signals().is_empty(), "no signal while draining");
    // The worker held nothing: its drain ends at once.
    let (index, report) = drained.recv().await.expect("a drain report");
    assert_eq!(report.end, DrainEnd::Completed);
    assert_eq!(runner.on_drained(index, report), Next::Continue);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "the stop signal after the drain");
    // Killed by SIGTERM after a drain that left nothing: an orderly stop.
    fake.exit(worker, 128 + Signal::SIGTERM as i32);
    assert_eq!(runner.reap(), Next::Exit(0));
}

#[tokio::test(start_paused = true)]
async fn a_drain_that_abandons_work_keeps_the_signal_code_and_sigkill_comes_on_time() {
    let fake = Fake::default();
    let config = run_with_endpoint(&["--stop-timeout", "25s", "--stop-grace", "5s"]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    let worker = fake.started()[0];
    runner.stop_requested(Signal::SIGTERM);
    // The drain ran to its deadline, 20 s in, with a task left.
    advance(Duration::from_secs(20)).await;
    let report = DrainReport {
        end: DrainEnd::Deadline,
        tally: Default::default(),
        left: 1,
        left_words: "1 activity".into(),
        polls_open: 0,
        took: Duration::from_secs(20),
    };
    runner.on_drained(0, report);
    // SIGKILL at the end of the stop timeout, 5 s after the stop signal.
    let kill_in = runner.timer().map(|t| t - Instant::now());
    assert_eq!(kill_in, Some(Duration::from_secs(5)));
    fake.exit(worker, 128 + Signal::SIGTERM as i32);
    assert_eq!(runner.reap(), Next::Exit(143));
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_exits_while_draining_ends_the_stop() {
    let fake = Fake::default();
    let config = run_with_endpoint(&[]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    runner.stop_requested(Signal::SIGTERM);
    fake.exit(fake.started()[0], 0);
    assert_eq!(runner.reap(), Next::Exit(0));
}

#[tokio::test(start_paused = true)]
async fn a_wedged_worker_is_not_drained() {
    let fake = Fake::default();
    let config = run_with_endpoint(&[]);
    let (mut runner, _drained) = runner_draining(&config, &fake);
    runner.temporal_ready();
    runner.replicas[0].speaks_tls(&runner.launch);
    let sent: Vec<_> = fake.group_signals().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sent, SIGTERM_AND_CONT, "stopped at once, not drained");
}
