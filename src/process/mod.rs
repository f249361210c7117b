//! Processes: starting a worker in its own process group, signalling and reaping it
//! ([`child`]), the signals the supervisor handles ([`signals`]), and replacing this process
//! with the worker ([`exec`]).

pub mod child;
pub mod exec;
pub mod signals;
