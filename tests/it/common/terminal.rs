//! A pseudo-terminal for the tests of `run` at a terminal: a program (the supervisor, or an
//! interactive shell) on a new terminal that is its controlling terminal, in the foreground;
//! everything written to it is collected, and keys can be typed, also the moment a text
//! comes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{PATIENCE, code};

/// A supervisor whose stdin, stdout and stderr are a new pseudo-terminal that it has as its
/// controlling terminal. Everything written to the terminal is collected.
pub struct OnTerminal {
    pub child: Option<Child>,
    master: File,
    seen: Arc<Mutex<String>>,
    triggers: Triggers,
}

/// Keys to type the moment a text has come a number of times: (text, count, keys).
type Triggers = Arc<Mutex<Vec<(String, usize, String)>>>;

impl OnTerminal {
    pub fn start(mut cmd: Command) -> OnTerminal {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty fills two descriptors; no name, settings or size are passed.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: in the child before exec: a new session, with the terminal on stdin as its
        // controlling terminal (which makes the session the terminal's foreground).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the supervisor on a terminal");
        let seen = Arc::new(Mutex::new(String::new()));
        let triggers = Triggers::default();
        let (mut reader, collected) = (master.try_clone().unwrap(), seen.clone());
        let (mut typist, pending) = (master.try_clone().unwrap(), triggers.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut seen = collected.lock().unwrap();
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                // Typed from here, as soon as the text is read: no poll interval in between.
                pending.lock().unwrap().retain(|(text, count, keys)| {
                    let due = seen.matches(text.as_str()).count() >= *count;
                    if due {
                        typist.write_all(keys.as_bytes()).unwrap();
                    }
                    !due
                });
            }
        });
        OnTerminal {
            child: Some(child),
            master,
            seen,
            triggers,
        }
    }

    /// Types `keys` the moment `text` has come `count` times in all.
    pub fn type_once_seen(&self, text: &str, count: usize, keys: &str) {
        let mut triggers = self.triggers.lock().unwrap();
        assert!(
            self.seen().matches(text).count() < count,
            "{count}x {text:?} came already"
        );
        triggers.push((text.into(), count, keys.into()));
    }

    pub fn type_in(&self, keys: &str) {
        (&self.master).write_all(keys.as_bytes()).unwrap();
    }

    /// The terminal's foreground process group.
    pub fn foreground_group(&self) -> i32 {
        use std::os::fd::AsRawFd;
        // SAFETY: TIOCGPGRP through tcgetpgrp on the master, which Linux answers for the
        // slave.
        unsafe { libc::tcgetpgrp(self.master.as_raw_fd()) }
    }

    pub fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    pub fn wait_for(&self, text: &str, count: usize) {
        let start = Instant::now();
        while self.seen().matches(text).count() < count {
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {count}x {text:?} on the terminal:\n{}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_exit(&mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return code(status);
            }
            assert!(
                start.elapsed() < PATIENCE,
                "still running:\n{}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OnTerminal {
    /// Everything of the terminal's session goes, also when a test failed half-way: the
    /// supervisor a shell started and its workers too, which a killed shell leaves behind.
    fn drop(&mut self) {
        let session = self.child.as_ref().map(|c| c.id() as i32);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in session.map(in_session).unwrap_or_default() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The processes of session `sid`, from /proc.
fn in_session(sid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name (in parentheses): state, ppid, pgrp, session.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(3)?.parse::<i32>().ok())
                == Some(sid)
        })
        .collect()
}

/// The state letter of a process (`R`, `S`, `T` for stopped...), from /proc.
pub fn state_of(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?')
}

/// An interactive shell on a terminal of its own.
pub fn interactive_shell() -> OnTerminal {
    let mut shell = Command::new("bash");
    shell
        .args(["--norc", "--noprofile", "-i"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PS1", "prompt> ")
        .env("TERM", "dumb")
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml");
    let term = OnTerminal::start(shell);
    term.wait_for("prompt> ", 1);
    term
}
