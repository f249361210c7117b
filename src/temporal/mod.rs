//! Everything that talks to Temporal: one readiness attempt ([`probe`]), waiting for readiness
//! on a schedule ([`gate`] with [`crate::backoff`]), watching Temporal while workers run
//! ([`monitor`]), and the proof that a worker polls its task queues ([`pollers`], whose identities are in
//! [`identity`] and whose schedule is in [`poller_watch`]).

pub mod bound;
pub mod client;
pub mod explain;
pub mod failure;
pub mod gate;
pub mod health_watch;
pub mod identity;
pub mod monitor;
pub mod poller_watch;
pub mod pollers;
pub mod probe;
pub mod thresholds;
pub mod tls_diagnosis;
