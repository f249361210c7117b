//! What the supervisor tells the outside world: its state and each worker's ([`status`]),
//! served as health endpoints ([`health`]) and Prometheus metrics ([`metrics`]).

pub mod connections;
pub mod health;
pub mod http;
pub mod metrics;
pub mod states;
pub mod status;
