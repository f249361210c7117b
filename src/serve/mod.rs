//! What the supervisor tells the outside world: its state and each worker's ([`status`]),
//! served as health endpoints ([`health`]) and Prometheus metrics ([`metrics`]).

pub mod health;
pub mod metrics;
pub mod status;
