//! What one endpoint's connections and its owner share: the connection to Temporal, the
//! ledger, the phase (serving or draining) and the metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

use crate::endpoint::ledger::Ledger;
use crate::endpoint::metrics::EndpointMetrics;
use crate::endpoint::upstream::Upstream;

/// What the endpoint does with polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// They go to Temporal.
    Serving,
    /// New polls are held (answered empty at their deadline), no eager work is requested.
    Draining,
    /// The drain is over and the worker is being stopped: held polls are answered empty at
    /// once, so that an SDK that waits for its polls on shutdown can finish; new ones after a
    /// moment (a worker that ignores its stop signal must not spin).
    Released,
}

pub struct Shared {
    pub upstream: Upstream,
    /// The worker, as the log names it.
    pub label: String,
    ledger: Mutex<Ledger>,
    phase: watch::Sender<Phase>,
    metrics: EndpointMetrics,
    /// Woken at every change of the ledger.
    changed: Notify,
    /// A TLS ClientHello was said once.
    tls_said: AtomicBool,
    /// The worker's connections open now.
    connections: AtomicUsize,
    /// The worker process connected at least once.
    connected: AtomicBool,
}

/// One of the worker's connections, counted while it is open.
pub struct Open<'a>(&'a Shared);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if self.0.connections.fetch_sub(1, Ordering::SeqCst) == 1 {
            // No connection left: the worker process is gone, and what it held with it.
            self.0.with_ledger(|l| l.worker_gone());
        }
    }
}

impl Shared {
    pub fn new(upstream: Upstream, label: String, metrics: EndpointMetrics) -> Shared {
        Shared {
            upstream,
            label,
            ledger: Mutex::new(Ledger::new(metrics.clone())),
            phase: watch::channel(Phase::Serving).0,
            metrics,
            changed: Notify::new(),
            tls_said: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            connected: AtomicBool::new(false),
        }
    }

    /// Counts a connection of the worker's while the guard lives.
    pub fn opened(&self) -> Open<'_> {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.connected.store(true, Ordering::SeqCst);
        Open(self)
    }

    /// Whether the worker process connected at least once (since [`Shared::forget_connected`]).
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// A new worker process: it has not connected yet.
    pub fn forget_connected(&self) {
        self.connected.store(false, Ordering::SeqCst);
    }

    /// The worker's connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn metrics(&self) -> &EndpointMetrics {
        &self.metrics
    }

    /// Changes the ledger; waiters on [`Shared::changed`] are woken after.
    pub fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let out = f(&mut self.ledger.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_waiters();
        out
    }

    /// Reads the ledger.
    pub fn read_ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.ledger.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Completes at the next change of the ledger (create it before looking, then await it).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Follows the phase.
    pub fn watch_phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub fn draining(&self) -> bool {
        self.phase() != Phase::Serving
    }

    /// Whether this is the first TLS ClientHello (to say so once).
    pub fn first_tls_hello(&self) -> bool {
        !self.tls_said.swap(true, Ordering::Relaxed)
    }
}
