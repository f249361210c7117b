//! How a worker's processes reach Temporal: through its local endpoint, or, once it was heard
//! speaking TLS itself, with the connection handed over directly.

use tracing::{info, warn};

use crate::endpoint::Endpoint;
use crate::supervise::launch::DrainReports;

pub struct Link {
    /// Its local Temporal endpoint, the same for each of its processes, and where its drains
    /// report.
    endpoint: Option<(Endpoint, DrainReports)>,
    /// It speaks TLS itself: its processes get the connection directly, not the endpoint.
    direct: bool,
    /// A failure before it ever connected to its endpoint was explained once.
    explained: bool,
}

impl Link {
    pub fn new(endpoint: Option<(Endpoint, DrainReports)>) -> Link {
        Link {
            endpoint,
            direct: false,
            explained: false,
        }
    }

    /// Its endpoint, unless its processes get the connection directly.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint
            .as_ref()
            .filter(|_| !self.direct)
            .map(|(endpoint, _)| endpoint)
    }

    /// Where its drains report (it drains only through its endpoint).
    pub fn drain_reports(&self) -> DrainReports {
        let (_, reports) = self
            .endpoint
            .as_ref()
            .expect("a worker with an endpoint drains");
        reports.clone()
    }

    /// The worker `label` failed: if it never connected to its endpoint, says once what that
    /// may mean (a worker that reads the credentials itself finds none with the endpoint).
    pub fn failed(&mut self, label: &str) {
        let Some(endpoint) = self.endpoint() else {
            return;
        };
        if self.explained || endpoint.was_connected() {
            return;
        }
        warn!(
            worker = %label,
            endpoint = %endpoint.address(),
            "the worker failed before connecting to its local endpoint: one that reads \
             TEMPORAL_API_KEY or TLS files itself finds none there (the endpoint holds the \
             credentials); have it read the connection from Temporal's environment \
             configuration, or turn the endpoint off (--endpoint=false)"
        );
        self.explained = true;
    }

    /// Its endpoint heard the worker `label` speak TLS (its code turns TLS on itself): from
    /// now on it gets the connection handed over directly. Whether that is news.
    pub fn speaks_tls(&mut self, label: &str) -> bool {
        if self.direct {
            return false;
        }
        self.direct = true;
        info!(
            worker = %label,
            "from now on the worker gets the connection handed over directly (as with \
             --endpoint=false): it is not drained on stop"
        );
        true
    }
}
