//! `run` in a terminal, as on a laptop: the supervisor on a pseudo-terminal (its controlling
//! terminal, it the foreground). A single worker takes the terminal, so it can read the
//! keyboard (as `breakpoint()` or `pdb` would) and gets Ctrl-C itself, which ends `run`
//! without counting as a crash. With several workers Ctrl-C goes to the supervisor, which
//! stops them all gracefully; a second Ctrl-C says how long until SIGKILL and leaves nothing
//! behind. Ctrl-Z in an interactive shell is in `job_control`.

use crate::common::terminal::OnTerminal;
use crate::common::*;

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
