//! Processes: finding a worker's program before anything waits ([`command`]), starting it in
//! its own process group, signalling and reaping it ([`child`]), its output when several
//! share one terminal ([`output`]), the terminal for a worker run by hand ([`terminal`]), the
//! signals the supervisor handles ([`signals`]), the descriptor limit ([`limits`]), replacing
//! this process with the worker ([`exec`]), and the connection handed to the worker in its
//! environment ([`handover`]); [`system`] puts the calls on workers behind one interface.

pub mod child;
pub mod command;
pub mod exec;
pub mod handover;
pub mod limits;
pub mod output;
pub mod signals;
pub mod system;
pub mod terminal;
