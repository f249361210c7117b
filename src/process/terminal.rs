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
//!
//! Ctrl-Z typed as the worker starts finds one of two moments where it would have been lost
//! or hung the shell:
//!
//! - the worker's new group exists but does not hold the terminal yet: SIGTSTP goes to the
//!   supervisor alone. The supervisor takes it (`run` listens to SIGTSTP while its worker
//!   holds the terminal) and stops the worker's group, whose stop then stops the supervisor
//!   as above;
//! - the worker's group holds the terminal but has not run the worker yet (between
//!   `tcsetpgrp` and exec in the forked child): stopped there, the child would never exec,
//!   and the supervisor, waiting for the exec, would never see the stop. Until exec the child
//!   notes a SIGTSTP instead ([`Handover`]; exec resets the handler), and the supervisor stops
//!   the worker's group as soon as the worker runs.

use std::io::IsTerminal;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

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

/// The terminal handed to a worker being started: a pipe through which the forked child notes
/// a SIGTSTP that came before its exec, for the supervisor to act on once the worker runs.
pub struct Handover {
    read: OwnedFd,
    write: OwnedFd,
}

impl Handover {
    pub fn new() -> std::io::Result<Handover> {
        use nix::fcntl::OFlag;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Handover { read, write })
    }

    /// The descriptor the forked child writes to ([`take_in_child`]); closed at exec.
    pub fn child_end(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// The worker `pid` runs: a Ctrl-Z that came before its exec stops its group now, as it
    /// would have had it come a moment later.
    pub fn finish(self, pid: nix::unistd::Pid) {
        drop(self.write);
        let mut note = [0u8; 1];
        // SAFETY: a read into a local buffer of its length, on a descriptor we own.
        let noted = unsafe { libc::read(self.read.as_raw_fd(), note.as_mut_ptr().cast(), 1) };
        if noted == 1 {
            tracing::info!(
                child_pid = pid.as_raw(),
                "the terminal stopped the worker as it started (SIGTSTP before its exec); \
                 stopping its process group now"
            );
            let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGTSTP);
        }
    }
}

/// Where the forked child notes an early SIGTSTP: set in the child only, before its handler.
static EARLY_STOP: AtomicI32 = AtomicI32::new(-1);

/// SIGTSTP in the forked child before exec: noted instead of stopping there.
extern "C" fn note_early_stop(_: libc::c_int) {
    let fd = EARLY_STOP.load(Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; a failed write only loses the note. errno is
    // kept for the code the signal interrupted.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, b"z".as_ptr().cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// In the forked worker, before exec and after its signal dispositions were reset: its new
/// process group takes the terminal, and a SIGTSTP from then until exec is noted on
/// `early_stop` (exec resets the handler to the default). Only async-signal-safe calls.
pub fn take_in_child(early_stop: RawFd) {
    EARLY_STOP.store(early_stop, Ordering::Relaxed);
    // SAFETY: sigaction with a zeroed struct (empty mask) and a handler that only calls
    // write(2); then system calls on descriptor 0 with our own pid, SIGTTOU ignored around
    // them, as the caller is still in the background.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = note_early_stop as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGTSTP, &action, std::ptr::null_mut());
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, libc::getpid());
        libc::signal(libc::SIGTTOU, libc::SIG_DFL);
    }
}

/// SIGTSTP reached the supervisor with no worker holding the terminal: it stops, as the
/// signal's default would have, until the shell continues it.
pub fn stop_self() {
    // SAFETY: a signal to our own process.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGSTOP);
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
