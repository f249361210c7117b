//! Bad input: one line naming the value and where it came from, exit 2, no panic, and no
//! secret in any output.

use std::path::PathBuf;

use crate::common::*;

fn scratch(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ts-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs the supervisor with `args` and `env`: it must exit 2 with one line on stderr that holds
/// every one of `expect`, with no panic, no backtrace and no `DEADBEEF` (the secrets below).
fn refused(args: &[&str], env: &[(&str, &str)], expect: &[&str]) {
    let mut cmd = supervisor();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (out, _) = run(&mut cmd, PATIENCE);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?} {env:?}: one line: {err}");
    for e in expect {
        assert!(err.contains(e), "{args:?} {env:?}: {err} does not say {e}");
    }
    for never in ["panicked", "backtrace", "DEADBEEF"] {
        assert!(!err.contains(never), "{args:?} {env:?}: {err}");
    }
}

// The rest of the bad values, and every rule behind them, are a table of unit tests through
// the resolver (src/config/tests/bad_input.rs); these few go through the binary.

#[test]
fn a_bad_flag_value_is_named_with_its_flag() {
    refused(
        &["--max-retries", "ten", "wait"],
        &[],
        &["flag --max-retries", "'ten'"],
    );
}

#[test]
fn a_secret_in_a_bad_variable_is_redacted() {
    refused(
        &["check"],
        &[("TEMPORAL_ADDRESS", "https://svc:DEADBEEF@temporal:443")],
        &[
            "environment variable TEMPORAL_ADDRESS",
            "'https://<redacted>@temporal:443'",
            "credentials in the address are not supported",
        ],
    );
}

#[test]
fn a_bad_key_in_the_file_names_its_line() {
    let typo = scratch(
        "worker-typo.toml",
        "[workers.docs]\ncommand = [\"true\"]\ncomand = [\"x\"]\n",
    );
    refused(
        &["run", "--config", &typo],
        &[],
        &[&typo, "line 3, key workers.docs.comand: unknown key"],
    );
}

#[test]
fn a_private_key_that_does_not_parse_is_never_shown() {
    let cert = scratch("not-pem.crt", "this is not a certificate\n");
    let key = scratch("garbage.key", "SECRET-KEY-MATERIAL-0xDEADBEEF\n");
    refused(
        &["check", "--tls-cert-path", &cert, "--tls-key-path", &key],
        &[],
        &[&cert],
    );
}

#[test]
fn a_missing_profile_names_where_it_was_asked_for() {
    let profile = scratch("temporal.toml", "[profile.other]\naddress = \"x:1\"\n");
    refused(
        &["check", "--profile", "prod"],
        &[("TEMPORAL_CONFIG_FILE", &profile)],
        &["Temporal profile 'prod'", "flag --profile", "not found"],
    );
}

#[test]
fn commands_and_options_clap_refuses_exit_2() {
    refused(&["check", "--bogus"], &[], &["--bogus"]);
    refused(&["frobnicate"], &[], &["frobnicate"]);
    refused(&["exec"], &[], &["CMD"]);
    refused(
        &[
            "status",
            "--health-listen",
            "127.0.0.1:1",
            "--worker",
            "a b",
        ],
        &[],
        &["flag --worker", "invalid worker name 'a b'"],
    );
}

#[test]
fn run_without_a_command_says_where_one_goes() {
    refused(&["run"], &[], &["run needs a command", "CMD after --"]);
}

#[test]
fn secrets_never_appear_in_config_output_or_logs() {
    let secret = "sekrit-api-key-4711";
    let (out, _) = run(supervisor().args(["config", "--api-key", secret]), PATIENCE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(out.status), 0);
    assert!(
        stdout.contains("api_key") && stdout.contains("<redacted>"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret), "{stdout}");

    // Every log level, through our flag and through RUST_LOG, with a connection attempt that
    // sends the key.
    let server = DevServer::start();
    for (flag_level, rust_log) in [(Some("trace"), None), (None, Some("trace"))] {
        let mut cmd = supervisor();
        cmd.args([
            "check",
            "--address",
            &server.address(),
            "--api-key",
            secret,
            "--tls=false",
        ]);
        if let Some(level) = flag_level {
            cmd.args(["--log-level", level]);
        }
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let (out, _) = run(&mut cmd, PATIENCE);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(code(out.status), 0, "{all}");
        assert!(
            !all.contains(secret),
            "secret leaked at level {flag_level:?}/{rust_log:?}"
        );
        assert!(
            all.contains("clear text"),
            "a plain-text API key must be warned about: {all}"
        );
    }
}

#[test]
fn config_shows_each_value_with_its_source() {
    let file = scratch(
        "sources.toml",
        "initial_delay = \"250ms\"\nnamespace = \"from-file\"\n",
    );
    let (out, _) = run(
        supervisor()
            .args(["config", "--config", &file, "--max-retries", "3"])
            .env("TEMPORAL_ADDRESS", "temporal.internal:7233"),
        PATIENCE,
    );
    assert_eq!(code(out.status), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .to_string()
    };
    assert!(
        line("max_retries").contains("= 3") && line("max_retries").contains("(flag --max-retries)")
    );
    assert!(
        line("address").contains("temporal.internal:7233")
            && line("address").contains("(environment variable TEMPORAL_ADDRESS)")
    );
    assert!(
        line("initial_delay").contains("250ms")
            && line("initial_delay").contains(&format!("config file {file}"))
    );
    assert!(line("namespace").contains("from-file"));
    assert!(line("max_delay").contains("(default)"));
}
