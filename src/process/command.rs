//! Finding a worker's program before anything waits for Temporal: a typo in a Compose file
//! must fail at once with 127 (not found) or 126 (not executable), not minutes later when
//! Temporal is finally up. The search is `execvp`'s: a name with a `/` is a path (relative to
//! the worker's directory), anything else is looked up in `PATH`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

use crate::exit;
use crate::files::io_reason;

/// Why a command cannot be started: exit code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnError {
    pub code: u8,
    pub message: String,
    /// A passing shortage (fork's EAGAIN or ENOMEM), not the command's fault.
    pub transient: bool,
}

impl SpawnError {
    pub fn new(code: u8, message: String) -> SpawnError {
        SpawnError {
            code,
            message,
            transient: false,
        }
    }
}

/// The program to execute for `program`: the path it names, or the first executable file of
/// that name in `path` (`PATH`; empty entries mean the current directory). The result is
/// absolute: the worker starts in its own directory, where a relative path would mean another
/// file than the one found here.
pub fn resolve(
    program: &OsStr,
    path: Option<&OsStr>,
    working_dir: Option<&Path>,
) -> Result<PathBuf, SpawnError> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(SpawnError::new(
            exit::NOT_FOUND,
            "the command is empty".into(),
        ));
    }
    if program.as_bytes().contains(&b'/') {
        let candidate = match working_dir {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        return match check(&candidate) {
            Found::Executable => Ok(absolute(candidate)),
            Found::Missing => Err(SpawnError::new(
                exit::NOT_FOUND,
                format!("{shown}: no such file"),
            )),
            Found::NotExecutable(why) => Err(SpawnError::new(
                exit::CANNOT_EXECUTE,
                format!("{shown}: {why}"),
            )),
        };
    }
    let search = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut refused = None;
    for dir in search.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        match check(&candidate) {
            Found::Executable => return Ok(absolute(candidate)),
            Found::NotExecutable(why) => {
                refused.get_or_insert(format!("{}: {why}", candidate.display()));
            }
            Found::Missing => {}
        }
    }
    Err(match refused {
        Some(message) => SpawnError::new(exit::CANNOT_EXECUTE, message),
        None => SpawnError::new(exit::NOT_FOUND, format!("{shown}: command not found")),
    })
}

/// `path` made absolute against our current directory, where it was found.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Fails unless `dir`, a worker's directory, is one: the worker could not start there.
pub fn check_dir(dir: &Path) -> Result<(), SpawnError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(SpawnError::new(
            exit::CANNOT_EXECUTE,
            format!("working directory {}: not a directory", dir.display()),
        )),
        Err(e) => Err(SpawnError::new(
            exit::CANNOT_EXECUTE,
            format!("working directory {}: {}", dir.display(), io_reason(&e)),
        )),
    }
}

enum Found {
    Executable,
    Missing,
    NotExecutable(&'static str),
}

fn check(candidate: &Path) -> Found {
    match std::fs::metadata(candidate) {
        Err(_) => Found::Missing,
        Ok(meta) if meta.is_dir() => Found::NotExecutable("is a directory"),
        Ok(_) if access(candidate, AccessFlags::X_OK).is_err() => {
            Found::NotExecutable("permission denied (not executable)")
        }
        Ok(_) => Found::Executable,
    }
}

/// The `PATH` the worker will search: its own `env` entry if it sets one, else `ours`.
pub fn worker_path(env: &[(String, String)], ours: Option<&str>) -> Option<OsString> {
    env.iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_str())
        .or(ours)
        .map(OsString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_as_execvp_does() {
        let path = OsStr::new("/nonexistent:/bin:/usr/bin");
        assert!(resolve(OsStr::new("sh"), Some(path), None).is_ok());
        let missing = resolve(OsStr::new("no-such-program-4711"), Some(path), None).unwrap_err();
        assert_eq!(missing.code, 127);
        assert_eq!(missing.message, "no-such-program-4711: command not found");
        let plain = std::env::temp_dir().join(format!("ts-not-executable-{}", std::process::id()));
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let refused = resolve(plain.as_os_str(), Some(path), None).unwrap_err();
        std::fs::remove_file(&plain).unwrap();
        assert_eq!(refused.code, 126, "{refused:?}");
        assert!(
            refused
                .message
                .ends_with("permission denied (not executable)")
        );
        assert_eq!(
            resolve(OsStr::new("/etc"), Some(path), None)
                .unwrap_err()
                .message,
            "/etc: is a directory"
        );
        assert_eq!(
            resolve(OsStr::new("./no-such-file"), Some(path), None)
                .unwrap_err()
                .code,
            127
        );
        // A relative path is taken from the worker's directory.
        assert_eq!(
            resolve(OsStr::new("./sh"), Some(path), Some(Path::new("/bin"))).unwrap(),
            PathBuf::from("/bin/./sh")
        );
    }
}
