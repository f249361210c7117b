//! The worker process: spawned in its own process group, signalled, and reaped by us.
//!
//! We never use a `wait` that could take another process's status: every exit is collected by
//! [`reap_all`], which calls `waitpid(-1, WNOHANG)` until nothing is left and reports the
//! workers' statuses among the orphans it reaped. This is what lets `run` be PID 1 or a child
//! subreaper without stealing the worker's exit status.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use tokio::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::exit;
pub use crate::process::command::SpawnError;
use crate::process::{limits, signals, terminal};

/// How to start a worker process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program, as found before anything waited ([`crate::process::command::resolve`]).
    pub program: PathBuf,
    /// The command as written: its first word becomes the worker's `argv[0]`.
    pub command: Vec<OsString>,
    /// Variables to set (`Some`) or remove (`None`) in the worker's environment, in order.
    pub env: Vec<(String, Option<String>)>,
    pub working_dir: Option<PathBuf>,
    /// Also the signal the worker gets should the supervisor die.
    pub stop_signal: Signal,
    /// Pipe stdout and stderr to us (to prefix them) instead of passing ours on.
    pub capture_output: bool,
    /// Make the worker's process group the terminal's foreground group (see
    /// [`crate::process::terminal`]).
    pub take_terminal: bool,
}

impl Spec {
    /// The command as the log shows it.
    pub fn shown(&self) -> String {
        let words: Vec<_> = self.command.iter().map(|w| w.to_string_lossy()).collect();
        words.join(" ")
    }
}

/// A running worker: its pid (also its process group's id) and when it started.
#[derive(Debug)]
pub struct Child {
    pub pid: Pid,
    pub started: Instant,
}

/// The worker's stdout and stderr, when they are piped to us.
pub type Pipes = (ChildStdout, ChildStderr);

/// Starts the worker as the leader of a new process group, with stdin inherited, stdout and
/// stderr inherited or piped to us, an empty signal mask, every signal at its default
/// disposition, the descriptor limit it would have had without us, and the spec's environment
/// changes. Returns the pipes when output is captured.
///
/// With `take_terminal`, the worker's group takes the terminal before exec, and a Ctrl-Z that
/// comes before the exec stops it once it runs (see [`terminal::Handover`]).
///
/// Should the supervisor die without stopping it (SIGKILL, the OOM killer), the worker gets
/// `stop_signal` at once (`PR_SET_PDEATHSIG`) instead of running on unsupervised. The kernel
/// ties that setting to the thread that forked, so this must be called from the main thread,
/// which lives as long as the supervisor (the runtime runs on it; never from a blocking-pool
/// thread, which ends when idle).
pub fn spawn(spec: &Spec) -> Result<(Child, Option<Pipes>), SpawnError> {
    let (arg0, args) = spec
        .command
        .split_first()
        .expect("a worker's command has a program");
    let stop_signal = spec.stop_signal;
    let take_terminal = spec.take_terminal;
    let shown = arg0.to_string_lossy();
    let started = Instant::now();
    let mut cmd = Command::new(&spec.program);
    cmd.arg0(arg0).args(args).process_group(0);
    for (name, value) in &spec.env {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    if spec.capture_output {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let handover = match take_terminal.then(terminal::Handover::new).transpose() {
        Ok(handover) => handover,
        Err(e) => return Err(spawn_error(&shown, e)),
    };
    let early_stop = handover.as_ref().map(terminal::Handover::child_end);
    let supervisor = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and only makes system calls
    // (rt_sigaction, rt_sigprocmask, setrlimit, tcsetpgrp, prctl, getppid), which are
    // async-signal-safe. Having a pre_exec hook also makes std fork and exec instead of using
    // posix_spawn, whose glibc implementation leaves glibc's internal signals (32 and 33)
    // ignored in the new program.
    unsafe {
        cmd.pre_exec(move || {
            reset_signal_dispositions()?;
            if let Some(early_stop) = early_stop {
                terminal::take_in_child(early_stop);
            }
            // The standard library leaves the mask as the forking thread had it.
            signals::clear_mask();
            limits::restore_in_child();
            stop_with_parent(supervisor, stop_signal)
        });
    }
    // The std handle is dropped without waiting: `reap` collects the status.
    let mut child = cmd.spawn().map_err(|e| spawn_error(&shown, e))?;
    let pid = Pid::from_raw(child.id() as i32);
    if let Some(handover) = handover {
        handover.finish(pid);
    }
    let pipes = match (child.stdout.take(), child.stderr.take()) {
        (Some(out), Some(err)) => Some((out, err)),
        _ => None,
    };
    Ok((Child { pid, started }, pipes))
}

/// Why the worker `shown` could not be started.
fn spawn_error(shown: &str, e: std::io::Error) -> SpawnError {
    match e.kind() {
        ErrorKind::NotFound => {
            SpawnError::new(exit::NOT_FOUND, format!("{shown}: command not found"))
        }
        ErrorKind::PermissionDenied => SpawnError::new(
            exit::CANNOT_EXECUTE,
            format!("{shown}: permission denied (not executable)"),
        ),
        _ => SpawnError {
            code: exit::CANNOT_EXECUTE,
            // Out of processes or memory for a moment: worth another try.
            transient: matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)),
            message: format!("{shown}: cannot execute: {e}"),
        },
    }
}

/// Sets every signal's disposition to the default, in the child before exec: the worker
/// starts as if from a clean init, whatever this process ignored or handled. Exec keeps
/// ignored signals ignored, and a supervisor started through glibc's posix_spawn has glibc's
/// internal signals (32 and 33) ignored, which glibc's own sigaction refuses to touch; so this
/// uses the rt_sigaction system call directly.
pub(crate) fn reset_signal_dispositions() -> std::io::Result<()> {
    // An all-zero kernel sigaction is SIG_DFL with no flags and an empty mask, whatever the
    // architecture's layout of the struct.
    let default_action = [0u64; 4];
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a raw rt_sigaction with a valid, zeroed action and no old action; system
        // calls are async-signal-safe. Failures (none expected) are ignored: the worker would
        // only keep an inherited disposition.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default_action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                // The kernel's sigset_t: 64 signals, 8 bytes on every architecture.
                8usize,
            );
        }
    }
    Ok(())
}

/// In the child before exec: ask for `signal` when the supervisor dies. If it died already,
/// between fork and this call, the child was re-parented and would never get the signal: it
/// then does not start the worker at all.
fn stop_with_parent(supervisor: Pid, signal: Signal) -> std::io::Result<()> {
    // SAFETY: prctl with an integer argument; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if nix::unistd::getppid() != supervisor {
        // The supervisor is gone. Nothing that allocates after fork: an errno alone.
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// What the reaper learnt about the processes it was asked about.
#[derive(Debug, Default, PartialEq)]
pub struct Reaped {
    /// Exited, with their own code, or 128+N for signal N.
    pub exits: Vec<(Pid, i32)>,
    /// Stopped by this signal (job control at a terminal, SIGSTOP).
    pub stopped: Vec<(Pid, Signal)>,
}

/// Collects every exited child without blocking (workers and orphans adopted as PID 1 or
/// subreaper alike), and reports which of those in `known` exited or were stopped.
pub fn reap_all(known: &[Pid]) -> Reaped {
    let mut reaped = Reaped::default();
    let mut orphans = 0;
    loop {
        let (pid, code) = match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, code),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, 128 + signal as i32),
            Ok(WaitStatus::Stopped(pid, signal)) => {
                if known.contains(&pid) {
                    reaped.stopped.push((pid, signal));
                }
                continue;
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        };
        if known.contains(&pid) {
            reaped.exits.push((pid, code));
        } else {
            orphans += 1;
        }
    }
    if orphans > 0 {
        tracing::debug!(count = orphans, "reaped orphaned processes");
    }
    reaped
}

/// Makes this process a child subreaper, so orphaned descendants are re-parented to us and
/// reaped here instead of by the real init. Not needed (and not done) as PID 1.
pub fn become_subreaper() -> std::io::Result<()> {
    if std::process::id() == 1 {
        return Ok(());
    }
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}
