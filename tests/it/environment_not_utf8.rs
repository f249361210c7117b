//! A variable we read whose value is not UTF-8 is exit 2 naming it, never a silent default;
//! an unrelated one breaks nothing and reaches the worker byte for byte.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::common::*;

fn not_utf8(text: &[u8]) -> OsString {
    OsString::from_vec(text.to_vec())
}

#[test]
fn a_variable_we_read_that_is_not_utf8_is_named_and_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["check"], "TEMPORAL_ADDRESS"),
        (&["check"], "TEMPORAL_NAMESPACE"),
        (&["check"], "TEMPORAL_API_KEY"),
        (&["check"], "TEMPORAL_TLS_CLIENT_KEY_DATA"),
        (&["check"], "TEMPORAL_GRPC_META_X_TEAM"),
        (&["check"], "TEMPORAL_CONFIG_FILE"),
        (&["wait"], "TEMPORAL_SUPERVISOR_MAX_RETRIES"),
        (&["wait"], "TEMPORAL_SUPERVISOR_CONFIG"),
        (&["config"], "RUST_LOG"),
        (&["config"], "HOME"),
        (&["config"], "XDG_CONFIG_HOME"),
        (&["run", "--", "true"], "TEMPORAL_SUPERVISOR_STOP_SIGNAL"),
        (&["run", "--", "true"], "TEMPORAL_WORKER_BUILD_ID"),
        (&["run", "--", "true"], "NO_COLOR"),
    ];
    let mut failures = Vec::new();
    for (args, name) in cases {
        let (out, _) = run_cmd(
            supervisor()
                .args(*args)
                // Nothing listens there: had the value been dropped, `check` would say
                // "not ready" (exit 1) about localhost:7233 instead.
                .env(name, not_utf8(b"\xff\xfe:7233-SECRET")),
        );
        let err = stderr(&out);
        let ok = code_of(&out) == 2
            && err.lines().count() == 1
            && err.contains(&format!("environment variable {name}"))
            && err.contains("not valid UTF-8")
            && !err.contains("SECRET");
        if !ok {
            failures.push(format!("{name} ({args:?}): exit {}: {err}", code_of(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unrelated_variables_that_are_not_utf8_pass_through_untouched() {
    let server = DevServer::start();
    let scratch = Scratch::new("env-not-utf8");
    let seen = scratch.path("seen");
    let value = b"caf\xe9 \xff\xfe";
    let mut cmd = supervisor();
    cmd.env("LEGACY_LATIN1", not_utf8(value))
        .env("TEMPORAL_ADDRESS", server.address())
        .args(["run", "--restart", "never", "--"])
        .args([
            "sh",
            "-c",
            &format!("printf %s \"$LEGACY_LATIN1\" > {}", seen.display()),
        ]);
    let (out, _) = run_cmd(&mut cmd);
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    let got = std::fs::read(&seen).expect("the worker wrote the variable");
    assert_eq!(got, value, "the worker gets the bytes as they were");
    // And `config` is not troubled by it either.
    let (out, _) = run_cmd(
        supervisor()
            .arg("config")
            .env("LEGACY_LATIN1", not_utf8(value)),
    );
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
}
