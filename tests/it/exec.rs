//! `exec`: once Temporal is ready, the command replaces the supervisor: same PID, exit code,
//! environment and stdio; clear failures for missing or non-executable commands.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use crate::common::*;

#[test]
fn command_keeps_pid_exit_code_environment_and_stdio() {
    let server = DevServer::start();
    let mut child = supervisor()
        .args(["exec", "--address", &server.address(), "--"])
        .args(["sh", "-c", "echo pid=$$ greeting=$GREETING; cat; exit 42"])
        .env("GREETING", "hello")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"from stdin\n").unwrap();
    }
    let out = wait_output(child, PATIENCE);
    assert_eq!(code(out.status), 42, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, format!("pid={pid} greeting=hello\nfrom stdin\n"));
    assert!(
        stderr(&out).contains("Temporal is ready"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_codes_pass_through() {
    let server = DevServer::start();
    for expected in [0, 3, 255] {
        let (out, _) = run(
            supervisor()
                .args(["exec", "--address", &server.address(), "--", "sh", "-c"])
                .arg(format!("exit {expected}")),
            PATIENCE,
        );
        assert_eq!(code(out.status), expected, "{}", stderr(&out));
    }
}

#[test]
fn missing_and_non_executable_commands_exit_127_and_126() {
    let server = DevServer::start();
    let (out, _) = run(
        supervisor().args([
            "exec",
            "--address",
            &server.address(),
            "--",
            "no-such-command-4711",
        ]),
        PATIENCE,
    );
    assert_eq!(code(out.status), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-command-4711: command not found"),
        "{}",
        stderr(&out)
    );

    let dir = std::env::temp_dir().join(format!("ts-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (out, _) = run(
        supervisor()
            .args(["exec", "--address", &server.address(), "--"])
            .arg(&script),
        PATIENCE,
    );
    assert_eq!(code(out.status), 126, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn command_does_not_run_when_temporal_never_becomes_ready() {
    let dir = std::env::temp_dir().join(format!("ts-exec-never-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran");
    let address = format!("127.0.0.1:{}", free_port());
    let (out, _) = run(
        supervisor()
            .args([
                "exec",
                "--address",
                &address,
                "--max-retries",
                "2",
                "--initial-delay",
                "100ms",
            ])
            .args(["--", "touch"])
            .arg(&marker),
        PATIENCE,
    );
    assert_eq!(code(out.status), 69, "{}", stderr(&out));
    assert!(
        !marker.exists(),
        "the command ran although Temporal was never ready"
    );
}

#[test]
fn the_command_starts_with_default_signal_dispositions() {
    let server = DevServer::start();
    let (out, _) = run(
        supervisor()
            .args(["exec", "--address", &server.address(), "--"])
            .args(["sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"]),
        PATIENCE,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(out.status), 0, "{}", stderr(&out));
    assert_eq!(
        stdout,
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
}
