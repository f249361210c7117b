//! Exit codes, used by every command. Their table for users is in docs/operations.md ("Exit
//! codes"); a test keeps the two in step.

/// Ready.
pub const OK: u8 = 0;
/// `check` found Temporal not ready.
pub const NOT_READY: u8 = 1;
/// Bad usage or configuration.
pub const USAGE: u8 = 2;
/// Temporal never became ready, or was lost with `--on-disconnect exit` (sysexits EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// An operating-system error (sysexits EX_OSERR).
pub const OS_ERROR: u8 = 71;
/// The command cannot be executed (as in shells and tini).
pub const CANNOT_EXECUTE: u8 = 126;
/// The command was not found (as in shells and tini).
pub const NOT_FOUND: u8 = 127;

#[cfg(test)]
mod tests {
    /// Every code here has its row in the documented table, and every numbered row is a code
    /// here.
    #[test]
    fn the_documented_table_lists_these_codes() {
        let docs = include_str!("../docs/operations.md");
        let table = docs.split("## Exit codes").nth(1).expect("the section");
        let documented: Vec<u8> = table
            .lines()
            .take_while(|l| !l.starts_with("## "))
            .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
            .collect();
        let ours = [
            super::OK,
            super::NOT_READY,
            super::USAGE,
            super::UNAVAILABLE,
            super::OS_ERROR,
            super::CANNOT_EXECUTE,
            super::NOT_FOUND,
        ];
        assert_eq!(documented, ours);
    }
}
