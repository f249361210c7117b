//! Job control in an interactive shell: Ctrl-Z stops the worker (its group holds the
//! terminal) and the supervisor, so that the shell's prompt comes back, and `fg` continues
//! both, with the terminal the worker's again. Also when Ctrl-Z comes as the worker starts:
//! before its group holds the terminal (the stop reaches the supervisor), or after, but before
//! the worker's exec.

use nix::sys::signal::Signal;

use crate::common::terminal::*;
use crate::common::*;

/// A worker that says it started, then waits without a process of its own: a shell loop
/// would not do, as a stop that catches dash between its vfork and its child's exec leaves
/// dash waiting for a child that is stopped, so that it never stops itself (an interactive
/// bash with no supervisor in between hangs the same way).
const WORKER: &str = "sh -c 'echo worker-$((6*7)); exec sleep 1000'";

/// The supervisor (the shell's child) and the worker (its child), both stopped, and the
/// prompt back: `prompts` prompts in all.
fn stopped_with_the_prompt_back(term: &OnTerminal, prompts: usize) -> (i32, i32) {
    term.wait_for("prompt> ", prompts);
    let shell = term.child.as_ref().unwrap().id() as i32;
    let supervisor = *children_of(shell)
        .first()
        .expect("the supervisor, the shell's child");
    let worker = *children_of(supervisor)
        .first()
        .expect("the worker, the supervisor's child");
    eventually(
        "the worker and the supervisor to be stopped",
        PATIENCE,
        || state_of(worker) == 'T' && state_of(supervisor) == 'T',
    );
    (supervisor, worker)
}

/// `fg` continues both, the worker has the terminal again (Ctrl-C reaches it, and ends `run`
/// with its code: `prompts` prompts in all), and nothing is left.
fn fg_continues_both(
    term: &OnTerminal,
    (supervisor, worker): (i32, i32),
    prompts: usize,
    trial: usize,
) {
    term.type_in("fg\n");
    term.wait_for("continued; continuing the worker", trial);
    // The supervisor stopped for the worker's stop, and said so first (its log is in order).
    let said = term.seen();
    let said = said.matches("stopping too, until the shell continues us");
    assert_eq!(said.count(), trial, "{}", term.seen());
    eventually("the worker to run again", PATIENCE, || {
        state_of(worker) != 'T'
    });
    assert_ne!(state_of(supervisor), 'T');
    term.type_in("\x03");
    term.wait_for("worker ended by Ctrl-C (code 130)", trial);
    term.wait_for("prompt> ", prompts);
    term.type_in("echo \"rc=$?\"\n");
    term.wait_for("rc=130", trial);
    eventually("the worker and the supervisor gone", PATIENCE, || {
        !alive(worker) && !alive(supervisor)
    });
}

/// Ctrl-Z stops the worker (its group holds the terminal); the supervisor stops too, and the
/// shell gets its prompt back; typed the moment the worker's first line comes, as the
/// supervisor is still starting it.
#[test]
fn ctrl_z_as_the_worker_starts_gives_the_prompt_back_and_fg_continues() {
    const TRIALS: usize = 20;
    let server = DevServer::start();
    let mut term = interactive_shell();
    for trial in 1..=TRIALS {
        // (The terminal echoes the command line: what only the worker prints.)
        term.type_once_seen("worker-42", trial, "\x1a");
        term.type_in(&format!(
            "{BIN} run --address {} -- {WORKER}\n",
            server.address()
        ));
        // Three prompts a trial: after Ctrl-Z, after Ctrl-C, after `echo`.
        let prompts = 3 * trial - 1;
        let stopped = stopped_with_the_prompt_back(&term, prompts);
        fg_continues_both(&term, stopped, prompts + 1, trial);
    }
    term.type_in("exit\n");
    term.wait_exit();
}

/// A stop that reaches the supervisor instead of the worker (Ctrl-Z typed as the supervisor
/// hands the worker the terminal, or `kill -TSTP` from elsewhere) stops the worker too, so
/// that the shell's job is the worker and its supervisor, stopped and continued together.
#[test]
fn a_stop_signal_to_the_supervisor_stops_the_worker_too() {
    let server = DevServer::start();
    let mut term = interactive_shell();
    term.type_in(&format!(
        "{BIN} run --address {} -- {WORKER}\n",
        server.address()
    ));
    term.wait_for("worker-42", 1);
    let shell = term.child.as_ref().unwrap().id() as i32;
    let supervisor = children_of(shell)[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor), Signal::SIGTSTP).unwrap();
    let stopped = stopped_with_the_prompt_back(&term, 2);
    assert_eq!(stopped.0, supervisor);
    fg_continues_both(&term, stopped, 3, 1);
    term.type_in("exit\n");
    term.wait_exit();
}

/// A library preloaded into the supervisor that makes one of the forked worker's last calls
/// before its exec (PR_SET_PDEATHSIG) take a second: the moment between the worker's group
/// taking the terminal and its exec, microseconds on an idle machine, is then long enough to
/// type Ctrl-Z into, every time. Built with the C compiler that links Rust programs.
const SLOW_EXEC: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <time.h>

/* Looked up when loaded: nothing but system calls in the forked child. */
static int (*real)(int, ...);
__attribute__((constructor)) static void find_real(void) {
    real = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
}

int prctl(int option, ...) {
    va_list ap;
    va_start(ap, option);
    unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long),
                  c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_PDEATHSIG) {
        struct timespec second = {1, 0};
        nanosleep(&second, 0);
    }
    return real(option, a, b, c, d);
}
"#;

fn slow_exec_library(scratch: &Scratch) -> std::path::PathBuf {
    let (source, library) = (scratch.path("slow_exec.c"), scratch.path("slow_exec.so"));
    std::fs::write(&source, SLOW_EXEC).unwrap();
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("cc, the C compiler that links Rust programs");
    assert!(out.status.success(), "cc: {}", stderr(&out));
    library
}

/// Ctrl-Z once the worker's group holds the terminal but before the worker's exec: the
/// forked child is stopped before it is the worker, with the supervisor waiting for its exec.
#[test]
fn ctrl_z_before_the_workers_exec_gives_the_prompt_back_and_fg_continues() {
    let server = DevServer::start();
    let scratch = Scratch::new("slow-exec");
    let library = slow_exec_library(&scratch);
    let supervisor_exe = std::fs::canonicalize(BIN).unwrap();
    let mut term = interactive_shell();
    let shell = term.child.as_ref().unwrap().id() as i32;
    term.type_in(&format!(
        "LD_PRELOAD={} {BIN} run --address {} -- {WORKER}\n",
        library.display(),
        server.address()
    ));
    // The terminal's foreground is a new group, a child of the supervisor that still runs the
    // supervisor's program: the forked worker before its exec.
    eventually("the worker's group to take the terminal", PATIENCE, || {
        let group = term.foreground_group();
        let supervisor = children_of(shell).first().copied();
        supervisor.is_some_and(|s| s != group && children_of(s).contains(&group))
    });
    let group = term.foreground_group();
    let exe = std::fs::read_link(format!("/proc/{group}/exe")).unwrap_or_default();
    assert_eq!(
        exe,
        supervisor_exe,
        "still before the exec: {}",
        term.seen()
    );
    term.type_in("\x1a");
    let stopped = stopped_with_the_prompt_back(&term, 2);
    fg_continues_both(&term, stopped, 3, 1);
    assert!(
        term.seen().contains("SIGTSTP before its exec"),
        "{}",
        term.seen()
    );
    term.type_in("exit\n");
    term.wait_exit();
}
