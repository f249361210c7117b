//! Why `run` ends, and with what code.
//!
//! `run` ends when a non-optional worker fails beyond its restart policy (the others are
//! stopped gracefully; its code), on SIGTERM or SIGINT (all stopped in parallel; the first
//! non-zero code of the workers, in the order of the configuration, or 0), when every
//! non-optional worker has ended by itself (the same rule), or with 69 when Temporal never
//! became ready or was lost with `--on-disconnect exit`.

use nix::sys::signal::Signal;
use tracing::{error, info};

use crate::exit;
use crate::serve::status::Status;

/// Why `run` is ending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    /// SIGTERM or SIGINT to the supervisor.
    Signal(Signal),
    /// A worker failed for good (or Ctrl-C ended it): its code.
    Worker(i32),
    /// Temporal lost with `--on-disconnect exit`.
    TemporalLost,
    /// Every non-optional worker ended by itself.
    WorkersDone,
}

impl Ending {
    /// The code `run` exits with once every worker is stopped, said: the failed worker's, 69
    /// for a loss, else the first non-zero code of the non-optional workers (in the order of
    /// the configuration, `first_failure`), or 0.
    pub fn exit_code(self, first_failure: impl FnOnce() -> i32) -> u8 {
        let code = match self {
            Ending::Worker(code) => code,
            Ending::TemporalLost => {
                info!("every worker stopped; exiting 69 (--on-disconnect exit)");
                return exit::UNAVAILABLE;
            }
            Ending::Signal(_) | Ending::WorkersDone => first_failure(),
        };
        match self {
            Ending::Signal(signal) => info!(
                code,
                "workers stopped after {}; exiting with the first non-zero code of the workers, else 0",
                signal.as_str()
            ),
            _ => info!(code, "exiting"),
        }
        code as u8
    }
}

/// Temporal never became ready (or did not come back): nothing runs while waiting, so `run`
/// exits at once, with 69.
pub fn gave_up(status: &Status) -> u8 {
    if status.was_ready() {
        error!("Temporal did not come back; exiting 69");
    } else {
        error!("Temporal never became ready; exiting 69");
    }
    exit::UNAVAILABLE
}
