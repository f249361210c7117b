//! `run` in a terminal, as on a laptop: the supervisor on a pseudo-terminal (its controlling
//! terminal, it the foreground). A single worker takes the terminal, so it can read the
//! keyboard (as `breakpoint()` or `pdb` would) and gets Ctrl-C itself, which ends `run`
//! without counting as a crash. With several workers Ctrl-C goes to the supervisor, which
//! stops them all gracefully; a second Ctrl-C says how long until SIGKILL and leaves nothing
//! behind. In an interactive shell, Ctrl-Z stops the worker and the supervisor, so that the
//! shell's prompt comes back, and `fg` continues both.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::sys::signal::Signal;

/// A supervisor whose stdin, stdout and stderr are a new pseudo-terminal that it has as its
/// controlling terminal. Everything written to the terminal is collected.
struct OnTerminal {
    child: Option<Child>,
    master: File,
    seen: Arc<Mutex<String>>,
}

impl OnTerminal {
    fn start(mut cmd: Command) -> OnTerminal {
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
        let (mut reader, collected) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal {
            child: Some(child),
            master,
            seen,
        }
    }

    fn type_in(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    fn wait_for(&self, text: &str, count: usize) {
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

    fn wait_exit(&mut self) -> i32 {
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

#[test]
fn a_single_worker_takes_the_terminal_and_ctrl_c_ends_run_without_a_restart() {
    let server = DevServer::start();
    let mut cmd = supervisor();
    cmd.args(["run", "--address", &server.address(), "--"])
        .args([
            "sh",
            "-c",
            "echo ready; read line; echo \"got:$line\"; trap 'exit 130' INT; echo trapped; \
         while :; do sleep 0.05; done",
        ]);
    let mut term = OnTerminal::start(cmd);
    term.wait_for("ready", 1);
    // Only the terminal's foreground group may read it: a worker in the background would be
    // stopped by SIGTTIN here.
    term.type_in("hello\n");
    term.wait_for("got:hello", 1);
    term.wait_for("trapped", 1);
    term.type_in("\x03");
    let code = term.wait_exit();
    let seen = term.seen();
    assert_eq!(code, 130, "the worker's own code: {seen}");
    assert!(
        seen.contains("worker ended by Ctrl-C (code 130); not a crash"),
        "{seen}"
    );
    assert_eq!(
        seen.matches("worker started").count(),
        1,
        "not restarted: {seen}"
    );
}

#[test]
fn with_several_workers_ctrl_c_stops_them_all_and_a_second_one_keeps_the_grace_period() {
    let server = DevServer::start();
    let scratch = Scratch::new("terminal");
    let file = scratch.path("workers.toml");
    let pids = scratch.path("pids");
    std::fs::write(
        &file,
        format!(
            r#"
[workers.polite]
command = ["sh", "-c", "trap 'exit 0' TERM INT; echo $$ >> {pids}; while :; do sleep 0.05; done"]

[workers.stubborn]
command = ["sh", "-c", "trap '' TERM INT; echo $$ >> {pids}; (trap '' TERM INT; sleep 1000) & while :; do sleep 0.05; done"]
stop_timeout = "3s"
"#,
            pids = pids.display()
        ),
    )
    .unwrap();
    let mut cmd = supervisor();
    cmd.args(["run", "--address", &server.address(), "--config"])
        .arg(&file);
    let mut term = OnTerminal::start(cmd);
    // Each worker notes its pid once its traps are set, so that Ctrl-C does not race them.
    eventually("both workers to run", PATIENCE, || {
        scratch.read("pids").lines().count() == 2
    });
    let groups: Vec<i32> = scratch
        .read("pids")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    eventually("the grandchild to start", PATIENCE, || {
        groups.iter().any(|&g| !children_of(g).is_empty())
    });
    term.type_in("\x03");
    term.wait_for("SIGINT received: stopping every worker", 1);
    term.type_in("\x03");
    term.wait_for("the grace period continues (SIGKILL in", 1);
    let code = term.wait_exit();
    let seen = term.seen();
    // polite exited 0, stubborn was killed after its stop timeout: 137.
    assert_eq!(code, 137, "{seen}");
    for g in groups {
        assert!(!group_alive(g), "group {g} left behind: {seen}");
    }
}

#[test]
fn prefixes_are_coloured_on_a_terminal_unless_no_color() {
    let server = DevServer::start();
    let scratch = Scratch::new("terminal-colour");
    let file = scratch.path("workers.toml");
    std::fs::write(
        &file,
        "restart = \"never\"\n[workers.one]\ncommand = [\"echo\", \"hi\"]\n\
         [workers.two]\ncommand = [\"echo\", \"ho\"]\n",
    )
    .unwrap();
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let mut cmd = supervisor();
        cmd.args(["run", "--address", &server.address(), "--config"])
            .arg(&file);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let mut term = OnTerminal::start(cmd);
        assert_eq!(term.wait_exit(), 0);
        // The workers' own lines (the log's `command=echo ho` is not one).
        eventually("both workers' lines on the terminal", PATIENCE, || {
            let seen = term.seen();
            ["hi", "ho"].iter().all(|w| {
                seen.contains(&format!("| {w}")) || seen.contains(&format!("|\x1b[0m {w}"))
            })
        });
        let seen = term.seen();
        assert_eq!(
            seen.contains("\x1b[36mone |\x1b[0m hi"),
            coloured,
            "NO_COLOR={no_color:?}: {seen:?}"
        );
        assert!(seen.contains("one | hi") || coloured, "{seen:?}");
    }
}

/// The state letter of a process (`R`, `S`, `T` for stopped...), from /proc.
fn state_of(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?')
}

#[test]
fn ctrl_z_in_an_interactive_shell_gives_the_prompt_back_and_fg_continues() {
    let server = DevServer::start();
    let mut shell = Command::new("bash");
    shell
        .args(["--norc", "--noprofile", "-i"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PS1", "prompt> ")
        .env("TERM", "dumb")
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml");
    let mut term = OnTerminal::start(shell);
    term.wait_for("prompt> ", 1);
    term.type_in(&format!(
        "{BIN} run --address {} -- sh -c 'echo worker-$((6*7)); while :; do sleep 0.05; done'\n",
        server.address()
    ));
    // (The terminal echoes the command line: wait for what only the worker prints.)
    term.wait_for("worker-42", 1);
    let supervisor = *children_of(term.child.as_ref().unwrap().id() as i32)
        .first()
        .expect("the supervisor, the shell's child");
    let worker = *children_of(supervisor)
        .first()
        .expect("the worker, the supervisor's child");
    // The shell worker in its loop (a `sleep` of its own), past its start-up.
    eventually("the worker's loop", PATIENCE, || {
        !children_of(worker).is_empty()
    });

    // Ctrl-Z: the terminal stops the worker (its group holds the terminal); the supervisor
    // stops too, and the shell gets its prompt back.
    term.type_in("\x1a");
    term.wait_for("prompt> ", 2);
    assert_eq!(
        state_of(worker),
        'T',
        "the worker is stopped: {}",
        term.seen()
    );
    eventually("the supervisor to be stopped", PATIENCE, || {
        state_of(supervisor) == 'T'
    });

    // fg: both continue, and the worker has the terminal again (Ctrl-C reaches it).
    term.type_in("fg\n");
    term.wait_for("continued; continuing the worker", 1);
    eventually("the worker to run again", PATIENCE, || {
        state_of(worker) != 'T'
    });
    assert_ne!(state_of(supervisor), 'T');
    term.type_in("\x03");
    term.wait_for("worker ended by Ctrl-C (code 130)", 1);
    term.wait_for("prompt> ", 3);
    term.type_in("echo \"rc=$?\"\n");
    term.wait_for("rc=130", 1);
    assert!(!alive(worker) && !alive(supervisor), "{}", term.seen());
    term.type_in("exit\n");
    term.wait_exit();
}
