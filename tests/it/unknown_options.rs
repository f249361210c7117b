//! The command line: an option we do not know is an error for every command (exit 2, one line
//! naming it, with the closest option we do know), never taken for the worker's command; the
//! worker's own arguments, after `--` or from its first word on, reach it untouched.

use crate::common::*;

/// Exit 2 at once, one line that contains each of `expect`, and nothing attempted.
fn refused(args: &[&str], expect: &[&str]) -> Option<String> {
    let (out, _) = run_cmd(supervisor().args(args));
    let err = stderr(&out);
    let ok = code_of(&out) == 2
        && err.lines().count() == 1
        && expect.iter().all(|e| err.contains(e))
        && !err.contains("command not found")
        && !err.contains("waiting for Temporal")
        && !err.contains("panicked");
    (!ok).then(|| format!("{args:?}: exit {:?}: {err}", out.status.code()))
}

#[test]
fn an_unknown_option_is_named_with_the_closest_known_one_for_every_command() {
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut failures = Vec::new();
    for command in ["wait", "check", "exec", "run", "watch", "status", "config"] {
        let mut args = vec![command, "--adress", &nowhere];
        if matches!(command, "exec" | "run") {
            args.extend(["--", "true"]);
        }
        failures.extend(refused(
            &args,
            &[
                "unexpected argument '--adress'",
                "a similar argument exists: '--address'",
            ],
        ));
    }
    // A typo before the worker's command, and an option that is nothing like ours.
    failures.extend(refused(
        &[
            "run",
            "--task-queu",
            "documents",
            "--",
            "python",
            "worker.py",
        ],
        &[
            "unexpected argument '--task-queu'",
            "a similar argument exists: '--task-queue'",
        ],
    ));
    for command in ["run", "exec"] {
        failures.extend(refused(
            &[command, "--no-such-flag", "--", "true"],
            &["unexpected argument '--no-such-flag'"],
        ));
        failures.extend(refused(
            &[command, "-x", "--", "true"],
            &["unexpected argument '-x'"],
        ));
    }
    failures.extend(refused(
        &["runn", "--", "true"],
        &["'runn'", "a similar command exists: 'run'"],
    ));
    assert!(
        failures.is_empty(),
        "unknown options handled badly:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_workers_arguments_reach_it_untouched_after_dashes_or_from_its_first_word() {
    let server = DevServer::start();
    let address = server.address();
    // The worker prints each of its arguments in brackets.
    let show = ["sh", "-c", "printf '[%s]' \"$@\"", "sh"];
    let theirs = ["-a", "--b", "--address", "x", "--", "--c"];
    let expected = "[-a][--b][--address][x][--][--c]";
    for command in ["exec", "run"] {
        for dashes in [true, false] {
            let mut cmd = supervisor();
            cmd.args([command, "--address", &address, "--restart", "never"]);
            if dashes {
                cmd.arg("--");
            }
            cmd.args(show).args(theirs);
            let (out, _) = run_cmd(&mut cmd);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                (code_of(&out), stdout.as_ref()),
                (0, expected),
                "{command}, -- {dashes}: {}",
                stderr(&out)
            );
        }
    }
}
