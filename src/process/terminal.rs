//! The terminal, for a single worker run by hand: the worker's process group becomes the
//! terminal's foreground group (as tini does), so that `breakpoint()` or `pdb` in the worker
//! can read the keyboard, and Ctrl-C goes to the worker itself. When it is gone, the
//! supervisor takes the terminal back.
//!
//! Only when stdin is a terminal whose foreground group is the supervisor's own (it runs in
//! the foreground of an interactive shell); never with several workers, whose output and
//! signals the supervisor keeps to itself.

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
