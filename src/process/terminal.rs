//! The terminal, for a single worker run by hand: the worker's process group becomes the
//! terminal's foreground group (as tini does), so that `breakpoint()` or `pdb` in the worker
//! can read the keyboard, and Ctrl-C goes to the worker itself. When it is gone, the
//! supervisor takes the terminal back.
//!
//! Only when stdin is a terminal whose foreground group is the supervisor's own (it runs in
//! the foreground of an interactive shell); never with several workers, whose output and
//! signals the supervisor keeps to itself.
//!
//! Job control, as dumb-init does it: when the terminal stops the worker (Ctrl-Z sends
//! SIGTSTP to the foreground group, which is the worker's; SIGTTIN and SIGTTOU stop a
//! background reader or writer), the supervisor stops itself too, so that the shell sees its
//! job stopped and gives the prompt back. `fg` (or `bg`) continues the supervisor, which hands
//! the terminal back to the worker when it is in the foreground again and continues the
//! worker's group.

use std::io::IsTerminal;

/// Whether the worker may take the terminal: stdin is one, and the supervisor is in the
/// foreground of it.
pub fn available() -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    // SAFETY: plain calls on descriptor 0 and our own process group.
    unsafe { libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Lets the supervisor give the terminal away and take it back without being stopped: a
/// background process group that sets the foreground group gets SIGTTOU, whose default
/// stops it. Called once, before any worker starts.
pub fn prepare() {
    // SAFETY: sets one signal's disposition to "ignore"; no handler runs.
    unsafe {
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
    }
}

/// In the forked worker, before exec: its new process group takes the terminal. Only
/// async-signal-safe calls; the signal dispositions are reset to defaults right after.
pub fn take_in_child() {
    // SAFETY: system calls on descriptor 0 with our own pid; SIGTTOU is ignored first, as the
    // caller is still in the background.
    unsafe {
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, libc::getpid());
    }
}

/// The supervisor takes the terminal back once its worker is gone.
pub fn take_back() {
    // SAFETY: as above, for the supervisor's own process group (SIGTTOU ignored by `prepare`).
    unsafe {
        libc::tcsetpgrp(0, libc::getpgrp());
    }
}

/// Whether `signal` is one by which the terminal stops a job.
pub fn is_job_stop(signal: nix::sys::signal::Signal) -> bool {
    use nix::sys::signal::Signal::{SIGTSTP, SIGTTIN, SIGTTOU};
    matches!(signal, SIGTSTP | SIGTTIN | SIGTTOU)
}

/// The worker holding the terminal was stopped by the terminal: stops this process too, until
/// the shell continues it; then gives the terminal back to the worker's group `worker` if
/// this process is in the foreground again (`fg`, not `bg`) and continues that group.
pub fn stop_with_worker(worker: nix::unistd::Pid) {
    // SAFETY: signals to our own process and to the worker's group, and terminal calls on
    // descriptor 0 (SIGTTOU is ignored by `prepare`).
    unsafe {
        libc::kill(libc::getpid(), libc::SIGSTOP);
        // Continued.
        if libc::tcgetpgrp(0) == libc::getpgrp() {
            libc::tcsetpgrp(0, worker.as_raw());
        }
        libc::killpg(worker.as_raw(), libc::SIGCONT);
    }
}
