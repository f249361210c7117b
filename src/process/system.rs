//! The operating-system calls the supervisor makes on its workers, behind one small interface
//! ([`Processes`]), so that the supervisor's decisions can be tested as tables without
//! processes ([`System`] is the real thing).

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::process::child::{self, Child, Pipes, Reaped, Spec};
use crate::process::command::SpawnError;
use crate::process::terminal;

/// What the supervisor does to processes.
pub trait Processes {
    /// Starts a worker process in a process group of its own.
    fn spawn(&self, spec: &Spec) -> Result<(Child, Option<Pipes>), SpawnError>;
    /// Sends `signal` to the process only.
    fn signal(&self, pid: Pid, signal: Signal);
    /// Sends `signal` to every process of the group led by `pid`.
    fn signal_group(&self, pid: Pid, signal: Signal);
    /// Whether any process of the group is still alive (zombies awaiting our reaping count
    /// too, which is why callers reap first).
    fn group_alive(&self, pid: Pid) -> bool;
    /// Collects every exited child, and reports those of `known` that exited or stopped.
    fn reap(&self, known: &[Pid]) -> Reaped;
    /// Takes the terminal back from a worker that held it.
    fn take_terminal_back(&self);
    /// The terminal stopped the worker `pid` that holds it: stops this process too, until
    /// continued (see [`terminal::stop_with_worker`]).
    fn stop_with_worker(&self, pid: Pid);
    /// Stops this process until continued (SIGTSTP to it, with no worker to stop).
    fn stop_self(&self);
}

/// The real processes of this machine.
pub struct System;

impl Processes for System {
    fn spawn(&self, spec: &Spec) -> Result<(Child, Option<Pipes>), SpawnError> {
        child::spawn(spec)
    }

    fn signal(&self, pid: Pid, signal: Signal) {
        let _ = kill(pid, signal);
    }

    fn signal_group(&self, pid: Pid, signal: Signal) {
        let _ = killpg(pid, signal);
    }

    fn group_alive(&self, pid: Pid) -> bool {
        !matches!(killpg(pid, None), Err(Errno::ESRCH))
    }

    fn reap(&self, known: &[Pid]) -> Reaped {
        child::reap_all(known)
    }

    fn take_terminal_back(&self) {
        terminal::take_back();
    }

    fn stop_with_worker(&self, pid: Pid) {
        terminal::stop_with_worker(pid);
    }

    fn stop_self(&self) {
        terminal::stop_self();
    }
}
