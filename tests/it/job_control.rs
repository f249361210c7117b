//! Job control in an interactive shell: Ctrl-Z stops the worker (its group holds the
//! terminal) and the supervisor, so that the shell's prompt comes back, and `fg` continues
//! both, with the terminal the worker's again; also when Ctrl-Z comes as the worker starts.

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
