//! Every file the program reads goes through [`read`]: our config file, Temporal's profile
//! file, and PEM material. A mis-mounted secret or a typo naming a device must cost neither
//! memory nor time, so a file is accepted only if
//!
//! - it is a regular file once symlinks are followed (checked before opening it, so a device
//!   is never even opened, and again on the open descriptor, in case it was swapped);
//! - it opens without blocking (`O_NONBLOCK`: a FIFO with no writer would hold startup
//!   forever; `O_NOCTTY`: a terminal never becomes ours);
//! - it holds no more than the cap of its [`Kind`], counted as it is read (files in `/proc`
//!   report a size of 0).
//!
//! Anything else is an error that says why, for the caller to name the file and its source.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a file is for, and the most it may hold.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// As an error message names it: "over the 1 MiB limit for a config file".
    pub what: &'static str,
    pub cap: u64,
}

const MIB: u64 = 1024 * 1024;

/// Our TOML file: an annotated file with every key is 10 KiB.
pub const CONFIG_FILE: Kind = Kind {
    what: "config file",
    cap: MIB,
};

/// Temporal's profile file (`temporal.toml`).
pub const PROFILE_FILE: Kind = Kind {
    what: "Temporal profile file",
    cap: MIB,
};

/// A PEM certificate bundle or key: a system's whole CA bundle is about 220 KiB.
pub const PEM_FILE: Kind = Kind {
    what: "PEM file",
    cap: 2 * MIB,
};

/// An API key: Temporal Cloud's are a few hundred bytes.
pub const API_KEY_FILE: Kind = Kind {
    what: "API key file",
    cap: 64 * 1024,
};

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// Nothing at that path (Temporal's profile file may be absent).
    NotFound,
    /// Anything else, in words: "not a regular file (a FIFO)".
    Refused(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("no such file"),
            ReadError::Refused(reason) => f.write_str(reason),
        }
    }
}

/// Reads a whole file of this kind, within its bounds (see the module's documentation).
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, ReadError> {
    // Checked before opening: opening some devices does something (a tape rewinds).
    regular(&std::fs::metadata(path).map_err(io_error)?, kind)?;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_error)?;
    regular(&file.metadata().map_err(io_error)?, kind)?;
    read_capped(&mut file, kind)
}

fn regular(meta: &Metadata, kind: Kind) -> Result<(), ReadError> {
    let t = meta.file_type();
    let what = if t.is_file() {
        return over_cap(meta.len(), kind);
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(ReadError::Refused(format!("not a regular file ({what})")))
}

fn over_cap(size: u64, kind: Kind) -> Result<(), ReadError> {
    if size <= kind.cap {
        return Ok(());
    }
    Err(ReadError::Refused(format!(
        "too large: {}, over the {} limit for a {}",
        shown_size(size),
        shown_size(kind.cap),
        kind.what
    )))
}

/// Reads to the end, refusing the file as soon as it holds more than the cap.
fn read_capped(file: &mut File, kind: Kind) -> Result<Vec<u8>, ReadError> {
    let expected = file.metadata().map(|m| m.len()).unwrap_or(0).min(kind.cap);
    let mut data = Vec::with_capacity(expected as usize + 1);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => {
                data.extend_from_slice(&chunk[..n]);
                // Refused as soon as it is over: the rest is never read.
                if data.len() as u64 > kind.cap {
                    return Err(ReadError::Refused(format!(
                        "too large: over the {} limit for a {}",
                        shown_size(kind.cap),
                        kind.what
                    )));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        }
    }
}

fn io_error(e: std::io::Error) -> ReadError {
    match e.kind() {
        ErrorKind::NotFound => ReadError::NotFound,
        ErrorKind::PermissionDenied => ReadError::Refused("permission denied".into()),
        ErrorKind::WouldBlock => ReadError::Refused("it would block".into()),
        _ => ReadError::Refused(
            // The OS message without Rust's " (os error N)".
            e.to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
    }
}

/// `1 MiB`, `9.8 GiB`, `512 bytes`.
fn shown_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    format!("{} {}", text.trim_end_matches(".0"), UNITS[unit])
}

/// An I/O error in a few words, for a message that names the file itself.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Kind = Kind {
        what: "test file",
        cap: 16,
    };

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ts-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refused(result: Result<Vec<u8>, ReadError>) -> String {
        match result {
            Err(ReadError::Refused(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn regular_files_under_the_cap_are_read_whole() {
        let dir = scratch();
        let path = dir.join("ok.toml");
        std::fs::write(&path, "sixteen bytes!!\n").unwrap();
        assert_eq!(read(&path, TINY).unwrap(), b"sixteen bytes!!\n");
        // A symlink to a regular file is the file.
        let link = dir.join("link.toml");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(read(&link, TINY).unwrap().len(), 16);
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let dir = scratch();
        let big = dir.join("big.toml");
        std::fs::write(&big, vec![b'#'; 3000]).unwrap();
        assert_eq!(
            refused(read(&big, TINY)),
            "too large: 2.9 KiB, over the 16 bytes limit for a test file"
        );
        assert_eq!(
            refused(read(Path::new("/dev/zero"), TINY)),
            "not a regular file (a character device)"
        );
        assert_eq!(
            refused(read(&dir, TINY)),
            "not a regular file (a directory)"
        );
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(refused(read(&fifo, TINY)), "not a regular file (a FIFO)");
        let link = dir.join("to-zero");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(
            refused(read(&link, TINY)),
            "not a regular file (a character device)"
        );
        assert_eq!(
            read(&dir.join("absent"), TINY),
            Err(ReadError::NotFound),
            "absent"
        );
    }

    #[test]
    fn a_file_that_reports_no_size_is_still_capped() {
        // Files in /proc say they are empty; this one holds far more than 16 bytes.
        assert_eq!(
            refused(read(Path::new("/proc/self/maps"), TINY)),
            "too large: over the 16 bytes limit for a test file"
        );
    }
}
