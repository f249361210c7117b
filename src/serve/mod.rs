//! What the supervisor tells the outside world: the health endpoints ([`health`]) and the
//! Prometheus metrics ([`metrics`]).

pub mod health;
pub mod metrics;
