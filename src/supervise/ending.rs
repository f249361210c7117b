//! When `run` ends and with what code: the runner's end-of-run rules.

use tracing::{error, info};

use crate::exit;
use crate::supervise::phase::Phase;
use crate::supervise::runner::{Ending, Next, Runner};
use crate::supervise::worker::{Replica, StopReason};

impl Runner<'_> {
    /// After every event: is `run` over, or should it wait for Temporal again?
    pub(super) fn check_end(&mut self) -> Next {
        let running = self.replicas.iter().any(Replica::has_process);
        if self.phase().ending().is_none() {
            let mut required = self.replicas.iter().filter(|r| !r.spec.optional).peekable();
            let all_done = if required.peek().is_some() {
                required.all(|r| r.exited().is_some())
            } else {
                self.replicas.iter().all(|r| r.exited().is_some())
            };
            if all_done {
                self.enter(
                    Phase::Ending(Ending::WorkersDone),
                    "workers-done",
                    "every worker has ended",
                );
                for replica in &mut self.replicas {
                    replica.stop(
                        StopReason::Shutdown("every other worker ended"),
                        &self.launch,
                    );
                }
                return self.check_end();
            }
        }
        if let Some(ending) = self.phase().ending() {
            return if running {
                Next::Continue
            } else {
                Next::Exit(self.exit_code(ending))
            };
        }
        if let Phase::Stopping(loss) = self.phase()
            && !running
        {
            self.enter(
                Phase::Stopped(loss),
                "workers-stopped",
                "every worker stopped; waiting for Temporal to come back",
            );
        }
        Next::Continue
    }

    fn exit_code(&self, ending: Ending) -> u8 {
        let code = match ending {
            Ending::Worker(code) => code,
            Ending::TemporalLost => {
                info!("every worker stopped; exiting 69 (--on-disconnect exit)");
                return exit::UNAVAILABLE;
            }
            Ending::Signal(_) | Ending::WorkersDone => self
                .replicas
                .iter()
                .filter(|r| !r.spec.optional)
                .filter_map(|r| r.exited().flatten())
                .find(|&code| code != 0)
                .unwrap_or(0),
        };
        match ending {
            Ending::Signal(signal) => info!(
                code,
                "workers stopped after {}; exiting with the first non-zero code of the workers, else 0",
                signal.as_str()
            ),
            _ => info!(code, "exiting"),
        }
        code as u8
    }

    /// Temporal never became ready: nothing runs while waiting, so exit at once.
    pub fn gave_up(&self) -> u8 {
        if self.launch.status.report().first_ready.is_some() {
            error!("Temporal did not come back; exiting 69");
        } else {
            error!("Temporal never became ready; exiting 69");
        }
        exit::UNAVAILABLE
    }
}
