//! Exit codes. One table, used by every command and documented in the README.
//!
//! | code | meaning                                                         |
//! |------|-----------------------------------------------------------------|
//! | 0    | ready (`wait`, `check`); for `exec`, the command's own codes      |
//! | 1    | `check`: Temporal is not ready                                    |
//! | 2    | bad usage or configuration: nothing was attempted                 |
//! | 69   | Temporal never became ready (attempts or `--timeout` ran out)     |
//! | 71   | an operating-system error prevented the supervisor from working   |
//! | 126  | `exec`: the command was found but could not be executed          |
//! | 127  | `exec`: the command was not found                                 |

/// Ready.
pub const OK: u8 = 0;
/// `check` found Temporal not ready.
pub const NOT_READY: u8 = 1;
/// Bad usage or configuration.
pub const USAGE: u8 = 2;
/// Temporal never became ready (sysexits EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// An operating-system error (sysexits EX_OSERR).
pub const OS_ERROR: u8 = 71;
/// The command cannot be executed (as in shells and tini).
pub const CANNOT_EXECUTE: u8 = 126;
/// The command was not found (as in shells and tini).
pub const NOT_FOUND: u8 = 127;
