//! A command that cannot run fails at once, before anything waits for Temporal: with nothing
//! listening and the default schedule (minutes of attempts), `run` and `exec` still end within
//! seconds with 127 (not found) or 126 (not executable) and one line naming the command (and
//! the worker, for the file's workers).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

/// Well under the default schedule's first two attempts (1 s apart) plus a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(10);

fn nowhere() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn check(args: &[&str], code: i32, message: &str) {
    let (out, took) = run_cmd(supervisor().args(args));
    let err = stderr(&out);
    assert_eq!(code_of(&out), code, "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(!err.contains("waiting for Temporal"), "{args:?}: {err}");
    assert!(took < AT_ONCE, "{args:?} took {took:?}");
}

#[test]
fn missing_and_unexecutable_commands_fail_before_waiting() {
    let scratch = Scratch::new("commands");
    let script = scratch.path("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = script.to_string_lossy().into_owned();
    let address = nowhere();

    for command in ["run", "exec"] {
        check(
            &[command, "--address", &address, "--", "no-such-worker-4711"],
            127,
            "no-such-worker-4711: command not found",
        );
        check(
            &[command, "--address", &address, "--", &script],
            126,
            "permission denied (not executable)",
        );
        check(
            &[command, "--address", &address, "--", "/nonexistent/worker"],
            127,
            "/nonexistent/worker: no such file",
        );
    }

    let file_fails = |name: &str, text: &str, code: i32, message: &str| {
        let file = scratch.path(name);
        std::fs::write(&file, text).unwrap();
        let file = file.to_string_lossy().into_owned();
        check(
            &["run", "--address", &address, "--config", &file],
            code,
            message,
        );
    };
    file_fails(
        "workers.toml",
        "[workers.good]\ncommand = [\"sleep\", \"1\"]\n\n\
         [workers.typo]\ncommand = [\"pyhton3\", \"worker.py\"]\n",
        127,
        "worker typo: pyhton3: command not found",
    );
    file_fails(
        "no-dir.toml",
        "[workers.lost]\ncommand = [\"sleep\", \"1\"]\nworking_dir = \"no-such-dir\"\n",
        126,
        &format!(
            "worker lost: working directory {}: no such file",
            scratch.path("no-such-dir").display()
        ),
    );
}

#[test]
fn a_program_is_found_in_the_workers_directory() {
    let server = DevServer::start();
    let scratch = Scratch::new("commands-dir");
    let dir = scratch.path("worker");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello from $(pwd)\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = scratch.path("workers.toml");
    std::fs::write(
        &file,
        "restart = \"never\"\n\n[workers.hello]\ncommand = [\"./hello.sh\"]\n\
         working_dir = \"worker\"\noutput = \"inherit\"\n",
    )
    .unwrap();
    // The file named relative to where the supervisor starts, as in `cd /app && run --config
    // workers.toml`: the program is found and run in the worker's directory all the same.
    let (out, _) = run_cmd(supervisor().current_dir(&scratch.0).args([
        "run",
        "--address",
        &server.address(),
        "--config",
        "workers.toml",
    ]));
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("hello from {}", dir.display())),
        "ran in its directory (relative to the file): {said}"
    );
}
