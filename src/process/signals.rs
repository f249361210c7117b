//! The signals `run` handles, as one async stream.
//!
//! | signal | what `run` does |
//! |---|---|
//! | SIGTERM, SIGINT | graceful stop: `--stop-signal` to the worker's group, SIGKILL after `--stop-timeout` |
//! | SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGQUIT | forwarded to the worker |
//! | SIGCHLD | reap every exited child (the worker and adopted orphans) |
//! | SIGTSTP (a single worker holding the terminal) | stop the worker's group, whose stop stops `run` too (see [`crate::process::terminal`]); with no worker, `run` stops |
//!
//! Handlers are installed before the worker is spawned, so no exit can be missed. The worker
//! starts with default dispositions: exec resets handled signals.
//!
//! A signal mask is inherited across fork and exec: a parent that starts us with SIGCHLD or
//! SIGTERM blocked (some shells, process managers and language runtimes do) would leave `run`
//! blind to its worker's exit, or deaf to SIGTERM. So the mask is cleared first thing
//! ([`clear_mask`] from [`crate::run`], before any thread or handler exists), and again in
//! every worker before exec.

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// Signals forwarded to the worker as they are.
const FORWARDED: [Signal; 5] = [
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGQUIT,
];

/// The signals `run` acts on itself; it listens to these and the forwarded ones.
const OWN: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD];

/// Listens to the handled signals.
pub struct Signals {
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers; SIGTSTP's too with `job_control` (the worker takes the
    /// terminal). Must be called inside the runtime.
    pub fn install(job_control: bool) -> std::io::Result<Signals> {
        let job_stop = job_control.then_some(Signal::SIGTSTP);
        let streams = OWN
            .into_iter()
            .chain(FORWARDED)
            .chain(job_stop)
            .map(|s| Ok((s, signal(SignalKind::from_raw(s as i32))?)))
            .collect::<std::io::Result<_>>()?;
        Ok(Signals { streams })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            for (signal, stream) in &mut self.streams {
                if stream.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(*signal);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

/// Unblocks every signal for the calling thread (threads started later inherit its mask).
/// Only a raw system call: async-signal-safe, so it also runs in a forked child before exec.
pub fn clear_mask() {
    // The kernel's sigset_t: 64 signals, 8 bytes on every architecture; all zero is empty.
    let empty = 0u64;
    // SAFETY: rt_sigprocmask with a valid empty set and no old set; it cannot fail with these
    // arguments (and a failure would only leave the inherited mask).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
}
