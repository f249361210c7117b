//! The deadline shared by the stages of one attempt or probe, so that a blackholed address or a
//! frozen server ends it on time, and the stage it ended in is named.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::duration;
use crate::temporal::failure::{Kind, ProbeError, Stage};

/// The deadline shared by the stages of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    start: Instant,
    pub deadline: Instant,
    budget: Duration,
    /// Names the limit in messages: "attempt timeout" or "probe timeout".
    limit: &'static str,
}

impl Bound {
    /// A deadline `budget` from now; `limit` names it in messages ("attempt timeout").
    pub fn new(budget: Duration, limit: &'static str) -> Bound {
        let start = Instant::now();
        Bound {
            start,
            deadline: start + budget,
            budget,
            limit,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn timed_out(&self) -> String {
        format!(
            "no answer within the {} ({})",
            self.limit,
            duration::format(self.budget)
        )
    }

    /// Runs one stage; past the deadline it fails as that stage.
    pub async fn run<T>(
        &self,
        stage: Stage,
        stage_future: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        match timeout_at(self.deadline, stage_future).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::new(stage, Kind::TimedOut, self.timed_out())),
        }
    }
}
