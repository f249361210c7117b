//! `exec`: replace this process with the worker, keeping PID, environment and stdio.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::exit;

/// Replaces the current process with `command` (searched in `PATH` like `execvp`). Returns only
/// on failure, with the exit code and a one-line message. The new program starts with an empty
/// signal mask and every signal at its default disposition.
pub fn exec(command: &[OsString]) -> (u8, String) {
    let (program, args) = command
        .split_first()
        .expect("clap requires at least one word for exec");
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: runs in this process just before execve and only makes rt_sigaction,
    // rt_sigprocmask, getrlimit and setrlimit calls.
    unsafe {
        cmd.pre_exec(|| {
            crate::process::child::reset_signal_dispositions()?;
            crate::process::signals::clear_mask();
            crate::process::limits::restore_in_child();
            Ok(())
        });
    }
    let error = cmd.exec();
    let shown = program.to_string_lossy();
    match error.kind() {
        ErrorKind::NotFound => (exit::NOT_FOUND, format!("{shown}: command not found")),
        ErrorKind::PermissionDenied => (
            exit::CANNOT_EXECUTE,
            format!("{shown}: permission denied (not executable)"),
        ),
        _ => (
            exit::CANNOT_EXECUTE,
            format!("{shown}: cannot execute: {error}"),
        ),
    }
}
