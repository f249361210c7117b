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

struct Case {
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Every one of these must appear in the single line on stderr.
    expect: Vec<String>,
}

fn case(args: &[&str], env: &[(&'static str, &str)], expect: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    let unknown_key = scratch("unknown.toml", "max_retries = 3\nmax_retriez = 4\n");
    let malformed = scratch("malformed.toml", "max_retries = 3\ninitial_delay = \"1s\n");
    let wrong_type = scratch("wrong-type.toml", "max_retries = \"many\"\n");
    let not_pem = scratch("not-pem.crt", "this is not a certificate\n");
    let key_garbage = scratch("garbage.key", "SECRET-KEY-MATERIAL-0xDEADBEEF\n");
    let empty_profile = scratch("temporal.toml", "[profile.other]\naddress = \"x:1\"\n");
    let broken_profile = scratch("broken-temporal.toml", "[profile.default\n");
    let worker_typo = scratch(
        "worker-typo.toml",
        "[workers.docs]\ncommand = [\"true\"]\ncomand = [\"x\"]\n",
    );
    let no_command = scratch("no-command.toml", "[workers.docs]\nreplicas = 2\n");
    let twice = scratch(
        "twice.toml",
        "[workers.docs]\ncommand = [\"true\"]\n[workers.docs]\ncommand = [\"false\"]\n",
    );
    let workers = scratch("workers.toml", "[workers.docs]\ncommand = [\"true\"]\n");
    let both = scratch(
        "both.toml",
        "command = [\"true\"]\n[workers.docs]\ncommand = [\"true\"]\n",
    );
    let zero = scratch(
        "zero.toml",
        "[workers.docs]\ncommand = [\"true\"]\nreplicas = 0\n",
    );
    let loud = scratch(
        "loud.toml",
        "[workers.docs]\ncommand = [\"true\"]\noutput = \"loud\"\n",
    );
    let bad_value = scratch(
        "bad-value.toml",
        "[workers.docs]\ncommand = [\"true\"]\nstop_timeout = \"soon\"\n",
    );

    let cases = vec![
        case(
            &["--max-retries", "ten", "wait"],
            &[],
            &["flag --max-retries", "'ten'"],
        ),
        case(
            &["wait"],
            &[("TEMPORAL_SUPERVISOR_MAX_RETRIES", "-1")],
            &[
                "environment variable TEMPORAL_SUPERVISOR_MAX_RETRIES",
                "'-1'",
            ],
        ),
        case(
            &["wait", "--initial-delay", "5x"],
            &[],
            &["flag --initial-delay", "'5x'", "unknown unit"],
        ),
        case(
            &["wait", "--max-delay", "0"],
            &[],
            &["flag --max-delay", "longer than zero"],
        ),
        case(
            &["wait", "--timeout", "forever"],
            &[],
            &["flag --timeout", "'forever'"],
        ),
        case(
            &["wait", "--attempt-timeout", "-1s"],
            &[],
            &["flag --attempt-timeout", "'-1s'"],
        ),
        case(
            &["wait", "--backoff-factor", "abc"],
            &[],
            &["flag --backoff-factor", "'abc'"],
        ),
        case(
            &["wait", "--jitter", "1.5"],
            &[],
            &["flag --jitter", "'1.5'"],
        ),
        case(
            &["wait", "--address", "localhost"],
            &[],
            &["flag --address", "'localhost'", "missing port"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_ADDRESS", "bad:port:x")],
            &["environment variable TEMPORAL_ADDRESS", "'bad:port:x'"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_ADDRESS", "https://svc:DEADBEEF@temporal:443")],
            &[
                "environment variable TEMPORAL_ADDRESS",
                "'https://<redacted>@temporal:443'",
                "credentials in the address are not supported",
            ],
        ),
        case(
            &[
                "status",
                "--health-listen",
                "127.0.0.1:1",
                "--worker",
                "a b",
            ],
            &[],
            &["flag --worker", "invalid worker name 'a b'"],
        ),
        case(
            &["check", "--address", "http://[::1"],
            &[],
            &["flag --address", "'http://[::1'"],
        ),
        case(
            &["check", "--tls=perhaps"],
            &[],
            &["flag --tls", "'perhaps'"],
        ),
        case(&["exec"], &[], &["CMD"]),
        case(
            &["exec", "--address", "localhost", "--", "true"],
            &[],
            &["flag --address"],
        ),
        case(
            &["wait", "--config", "/nonexistent/ts.toml"],
            &[],
            &["/nonexistent/ts.toml", "flag --config", "no such file"],
        ),
        case(
            &["wait", "--config", &unknown_key],
            &[],
            &[&unknown_key, "line 2, key max_retriez: unknown key"],
        ),
        case(
            &["wait", "--config", &malformed],
            &[],
            &[&malformed, "line 2"],
        ),
        case(
            &["wait"],
            &[("TEMPORAL_SUPERVISOR_CONFIG", &wrong_type)],
            &[&wrong_type, "key max_retries", "'many'"],
        ),
        case(
            &["check", "--tls-ca-path", "/nonexistent/ca.pem"],
            &[],
            &["flag --tls-ca-path", "/nonexistent/ca.pem"],
        ),
        case(
            &["check", "--tls-ca-path", &not_pem],
            &[],
            &[&not_pem, "no PEM certificate"],
        ),
        case(
            &[
                "check",
                "--tls-cert-path",
                &not_pem,
                "--tls-key-path",
                &key_garbage,
            ],
            &[],
            &[&not_pem],
        ),
        case(
            &["check", "--tls-cert-path", &not_pem],
            &[],
            &["flag --tls-cert-path", "needs a client key"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_TLS_CLIENT_KEY_PATH", &key_garbage)],
            &["TEMPORAL_TLS_CLIENT_KEY_PATH", "needs a client certificate"],
        ),
        case(&["check", "--bogus"], &[], &["--bogus"]),
        case(&["frobnicate"], &[], &["frobnicate"]),
        case(&["run"], &[], &["run needs a command", "CMD after --"]),
        case(
            &["run", "--config", &worker_typo],
            &[],
            &[&worker_typo, "line 3, key workers.docs.comand: unknown key"],
        ),
        case(
            &["run", "--config", &no_command],
            &[],
            &["key workers.docs.command: missing"],
        ),
        case(
            &["run", "--config", &twice],
            &[],
            &[&twice, "line 3: duplicate key"],
        ),
        case(
            &["run", "--config", &workers, "--", "sleep", "1"],
            &[],
            &["names workers ([workers.docs])", "give no command after --"],
        ),
        case(
            &["run", "--config", &both],
            &[],
            &["top-level command and [workers] tables"],
        ),
        case(
            &["run", "--config", &zero],
            &[],
            &["line 3, key workers.docs.replicas: invalid value: integer `0`"],
        ),
        case(
            &["run", "--config", &loud],
            &[],
            &[
                "line 3, key workers.docs.output: unknown variant `loud`",
                "`prefix` or `inherit`",
            ],
        ),
        case(
            &["run", "--config", &bad_value],
            &[],
            &["key workers.docs.stop_timeout: invalid value 'soon'"],
        ),
        case(
            &["run", "--stop-signal", "SIGKILL", "--", "true"],
            &[],
            &["flag --stop-signal", "'SIGKILL'"],
        ),
        case(
            &["run", "--stop-signal", "SIGNOPE", "--", "true"],
            &[],
            &["flag --stop-signal", "'SIGNOPE'"],
        ),
        case(
            &["run", "--", "true"],
            &[("TEMPORAL_SUPERVISOR_RESTART", "sometimes")],
            &[
                "environment variable TEMPORAL_SUPERVISOR_RESTART",
                "'sometimes'",
            ],
        ),
        case(
            &["run", "--on-disconnect", "reboot", "--", "true"],
            &[],
            &["flag --on-disconnect", "'reboot'"],
        ),
        case(
            &["run", "--failure-threshold", "0", "--", "true"],
            &[],
            &["flag --failure-threshold", "'0'"],
        ),
        case(
            &["run", "--probe-interval", "0s", "--", "true"],
            &[],
            &["flag --probe-interval", "'0s'"],
        ),
        case(
            &["run", "--max-restarts", "-2", "--", "true"],
            &[],
            &["flag --max-restarts", "'-2'"],
        ),
        case(
            &[
                "run",
                "--restart-delay",
                "2s",
                "--restart-max-delay",
                "1s",
                "--",
                "true",
            ],
            &[],
            &[
                "restart_max_delay 1s (flag --restart-max-delay) is shorter than restart_delay 2s \
               (flag --restart-delay)",
            ],
        ),
        case(
            &["wait", "--log-format", "xml"],
            &[],
            &["flag --log-format", "'xml'"],
        ),
        case(
            &["wait", "--log-level", "loud"],
            &[],
            &["flag --log-level", "'loud'"],
        ),
        case(
            &["check", "--profile", "prod"],
            &[("TEMPORAL_CONFIG_FILE", &empty_profile)],
            &["Temporal profile 'prod'", "flag --profile", "not found"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_CONFIG_FILE", &broken_profile)],
            &[&broken_profile],
        ),
        case(
            &["check"],
            &[("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true")],
            &["TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "not supported"],
        ),
    ];

    let mut failures = Vec::new();
    for c in &cases {
        let mut cmd = supervisor();
        cmd.args(&c.args);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let (out, _) = run(&mut cmd, PATIENCE);
        let err = stderr(&out);
        let line_count = err.lines().count();
        let ok = out.status.code() == Some(2)
            && line_count == 1
            && c.expect.iter().all(|e| err.contains(e.as_str()))
            && !err.contains("panicked")
            && !err.contains("backtrace")
            && !err.contains("DEADBEEF");
        if !ok {
            failures.push(format!(
                "{:?} {:?}: exit {:?}, {line_count} line(s): {err}",
                c.args,
                c.env,
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "bad input handled badly:\n{}",
        failures.join("\n")
    );
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
