//! Bad input through the resolver, as a table: each case is an error naming the value and
//! where it came from (one line, as the binary prints it), and never a secret. (`tests/it/bad_input.rs` keeps a few of them end to
//! end: the exit code, the single line on stderr, no panic.)

use std::ffi::OsString;

use super::{env, flags, temp_file};
use crate::config::{Workers, resolve};

/// A case: flags (by key), variables, our file's text (its path is `{file}` in the
/// variables and the expected words), Temporal's profile file, `-- CMD` for `run` (`None`: not
/// `run`), and the words the error must hold.
struct Case {
    flags: &'static [(&'static str, &'static str)],
    env: &'static [(&'static str, &'static str)],
    file: Option<&'static str>,
    profile: Option<&'static str>,
    run: Option<&'static [&'static str]>,
    expect: &'static [&'static str],
}

const NONE: Case = Case {
    flags: &[],
    env: &[],
    file: None,
    profile: None,
    run: None,
    expect: &[],
};

const NOT_PEM: &str = "this is not a certificate\n";
const KEY_GARBAGE: &str = "SECRET-KEY-MATERIAL-0xDEADBEEF\n";

/// Flags and variables with a bad value.
#[rustfmt::skip]
const VALUES: &[Case] = &[
    Case { flags: &[("max_retries", "ten")], expect: &["flag --max-retries: invalid value 'ten'"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_MAX_RETRIES", "-1")], expect: &["environment variable TEMPORAL_SUPERVISOR_MAX_RETRIES: invalid value '-1'"], ..NONE },
    Case { flags: &[("initial_delay", "5x")], expect: &["flag --initial-delay", "'5x'", "unknown unit"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_INITIAL_DELAY", "0")], expect: &["TEMPORAL_SUPERVISOR_INITIAL_DELAY: invalid value '0'", "must be longer than zero"], ..NONE },
    Case { flags: &[("max_delay", "0")], expect: &["flag --max-delay", "longer than zero"], ..NONE },
    Case { flags: &[("timeout", "forever")], expect: &["flag --timeout", "'forever'"], ..NONE },
    Case { flags: &[("attempt_timeout", "-1s")], expect: &["flag --attempt-timeout", "'-1s'"], ..NONE },
    Case { flags: &[("backoff_factor", "abc")], expect: &["flag --backoff-factor", "'abc'"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_BACKOFF_FACTOR", "0.5")], expect: &["'0.5'", "a number from 1 to 100"], ..NONE },
    Case { flags: &[("jitter", "1.5")], expect: &["flag --jitter", "'1.5'"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_JITTER", "2")], expect: &["'2'"], ..NONE },
    Case { flags: &[("address", "localhost")], expect: &["flag --address: invalid value 'localhost': missing port"], ..NONE },
    Case { env: &[("TEMPORAL_ADDRESS", "bad:port:x")], expect: &["environment variable TEMPORAL_ADDRESS", "'bad:port:x'"], ..NONE },
    Case { env: &[("TEMPORAL_ADDRESS", "ftp://x:1")], expect: &["unsupported scheme"], ..NONE },
    Case { env: &[("TEMPORAL_ADDRESS", "https://svc:DEADBEEF@temporal:443")], expect: &["environment variable TEMPORAL_ADDRESS", "'https://<redacted>@temporal:443'", "credentials in the address are not supported"], ..NONE },
    Case { flags: &[("address", "http://[::1")], expect: &["flag --address", "'http://[::1'"], ..NONE },
    Case { flags: &[("tls", "perhaps")], expect: &["flag --tls: invalid value 'perhaps'"], ..NONE },
    Case { env: &[("TEMPORAL_TLS", "maybe")], expect: &["TEMPORAL_TLS: invalid value 'maybe'"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_MAX_DELAY", "1s"), ("TEMPORAL_SUPERVISOR_INITIAL_DELAY", "2s")], expect: &["max_delay 1s (environment variable TEMPORAL_SUPERVISOR_MAX_DELAY) is shorter than initial_delay 2s (environment variable TEMPORAL_SUPERVISOR_INITIAL_DELAY)"], ..NONE },
    Case { flags: &[("log_format", "xml")], expect: &["flag --log-format", "'xml'"], ..NONE },
    Case { flags: &[("log_level", "loud")], expect: &["flag --log-level", "'loud'"], ..NONE },
    Case { flags: &[("stop_signal", "SIGKILL")], expect: &["flag --stop-signal", "'SIGKILL'"], ..NONE },
    Case { flags: &[("stop_signal", "SIGNOPE")], expect: &["flag --stop-signal", "'SIGNOPE'"], ..NONE },
    Case { env: &[("TEMPORAL_SUPERVISOR_RESTART", "sometimes")], expect: &["environment variable TEMPORAL_SUPERVISOR_RESTART", "'sometimes'"], ..NONE },
    Case { flags: &[("on_disconnect", "reboot")], expect: &["flag --on-disconnect", "'reboot'"], ..NONE },
    Case { flags: &[("failure_threshold", "0")], expect: &["flag --failure-threshold", "'0'"], ..NONE },
    Case { flags: &[("probe_interval", "0s")], expect: &["flag --probe-interval", "'0s'"], ..NONE },
    Case { flags: &[("max_restarts", "-2")], expect: &["flag --max-restarts", "'-2'"], ..NONE },
    Case { flags: &[("restart_delay", "2s"), ("restart_max_delay", "1s")], expect: &["restart_max_delay 1s (flag --restart-max-delay) is shorter than restart_delay 2s (flag --restart-delay)"], ..NONE },
    Case { env: &[("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true")], expect: &["TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "not supported"], ..NONE },
];

/// Files: ours, Temporal's profile file and TLS material.
#[rustfmt::skip]
const FILES: &[Case] = &[
    Case { env: &[("TEMPORAL_SUPERVISOR_CONFIG", "/nonexistent/ts.toml")], expect: &["config file /nonexistent/ts.toml (from environment variable TEMPORAL_SUPERVISOR_CONFIG): no such file"], ..NONE },
    Case { file: Some("max_retries = 3\nmax_retriez = 4\n"), expect: &["{file}", "line 2, key max_retriez: unknown key"], ..NONE },
    Case { file: Some("max_retries = 3\ninitial_delay = \"1s\n"), expect: &["{file}", "line 2"], ..NONE },
    Case { file: Some("max_retries = \"many\"\n"), expect: &["{file}", "key max_retries: invalid value 'many'"], ..NONE },
    Case { file: Some("[address]\nhost = \"x\"\n"), expect: &["expected a single value, found a table"], ..NONE },
    Case { file: Some("max_retries = 1.5\n"), expect: &["invalid value '1.5'"], ..NONE },
    Case { file: Some("task_queue = [\"a\", 3]\n"), expect: &["line 1, key task_queue[1]: expected a string, found 3"], ..NONE },
    Case { file: Some("env = { A = \"1\" }\n"), expect: &["line 1, key env: unknown key"], ..NONE },
    Case { file: Some("replicas = 2\n"), expect: &["line 1, key replicas: unknown key"], ..NONE },
    Case { file: Some("workers = 1\n"), expect: &["line 1, key workers: expected [workers.NAME] tables"], ..NONE },
    Case { file: Some("workers = { a = 1 }\n"), expect: &["line 1, key workers.a: expected a table"], ..NONE },
    Case { file: Some("[workers.a]\naddress = \"x:1\"\n"), expect: &["line 2, key workers.a.address: unknown key"], ..NONE },
    Case { file: Some("[workers.a.workers.b]\ncommand = [\"x\"]\n"), expect: &["key workers.a.workers: unknown key"], ..NONE },
    Case { flags: &[("tls_ca_path", "/nonexistent/ca.pem")], expect: &["flag --tls-ca-path", "cannot read '/nonexistent/ca.pem'"], ..NONE },
    Case { env: &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "/nonexistent/c.pem")], expect: &["cannot read '/nonexistent/c.pem'"], ..NONE },
    Case { flags: &[("tls_ca_path", "{not_pem}")], expect: &["{not_pem}", "no whole PEM certificate"], ..NONE },
    Case { flags: &[("tls_cert_path", "{not_pem}"), ("tls_key_path", "{garbage}")], expect: &["{not_pem}"], ..NONE },
    Case { flags: &[("tls_cert_path", "{not_pem}")], expect: &["flag --tls-cert-path", "needs a client key"], ..NONE },
    Case { env: &[("TEMPORAL_TLS_CLIENT_KEY_PATH", "{garbage}")], expect: &["TEMPORAL_TLS_CLIENT_KEY_PATH", "needs a client certificate"], ..NONE },
    Case { env: &[("TEMPORAL_PROFILE", "nope")], expect: &["Temporal profile 'nope' (from environment variable TEMPORAL_PROFILE) not found"], ..NONE },
    Case { flags: &[("profile", "prod")], profile: Some("[profile.other]\naddress = \"x:1\"\n"), expect: &["Temporal profile 'prod' (from flag --profile) not found in {profile}"], ..NONE },
    Case { profile: Some("[profile.default\n"), expect: &["Temporal profile file {profile}"], ..NONE },
];

/// The workers of `run`, from the command line or our file.
#[rustfmt::skip]
const WORKERS: &[Case] = &[
    Case { run: Some(&[]), expect: &["run needs a command", "CMD after --"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\ncomand = [\"x\"]\n"), expect: &["{file}", "line 3, key workers.docs.comand: unknown key"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\nreplicas = 2\n"), expect: &["key workers.docs.command: missing"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = []\n"), expect: &["line 2, key workers.docs.command: expected a program and its arguments, found an empty list"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = \"true\"\n"), expect: &["line 2, key workers.docs.command: expected a program and its arguments as a list"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\n[workers.docs]\ncommand = [\"false\"]\n"), expect: &["{file}", "line 3: duplicate key"], ..NONE },
    Case { run: Some(&["sleep", "1"]), file: Some("[workers.docs]\ncommand = [\"true\"]\n"), expect: &["names workers ([workers.docs])", "give no command after --"], ..NONE },
    Case { run: Some(&[]), file: Some("command = [\"true\"]\n[workers.docs]\ncommand = [\"true\"]\n"), expect: &["top-level command and [workers] tables"], ..NONE },
    Case { run: Some(&[]), file: Some("command = []\n"), expect: &["line 1, key command: expected a program and its arguments, found an empty list"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\nreplicas = 0\n"), expect: &["{file}, key workers.docs.replicas: invalid value '0': expected a whole number from 1 up"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\noutput = \"loud\"\n"), expect: &["{file}, key workers.docs.output: invalid value 'loud': expected prefix or inherit"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\noptional = \"perhaps\"\n"), expect: &["{file}, key workers.docs.optional: invalid value 'perhaps': expected true or false"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.docs]\ncommand = [\"true\"]\nstop_timeout = \"soon\"\n"), expect: &["key workers.docs.stop_timeout: invalid value 'soon'"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.a]\ncommand = \"w --token=1234\"\n"), expect: &["key workers.a.command: expected a program and its arguments as a list"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.a]\ncommand = [\"x\"]\nenv = \"TOKEN=1234\"\n"), expect: &["line 3, key workers.a.env: expected a table of variables"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.a]\ncommand = [\"x\"]\nenv = { TOKEN = 1234 }\n"), expect: &["line 3, key workers.a.env.TOKEN: expected a string (in quotes)"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.a]\ncommand = [\"x\"]\nenv = { \"A=B\" = \"1234\" }\n"), expect: &["key workers.a.env: invalid variable name 'A=B'"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.\"a b\"]\ncommand = [\"x\"]\n"), expect: &["{file}, key workers.a b: invalid worker name 'a b'"], ..NONE },
    Case { run: Some(&[]), file: Some("[workers.a]\ncommand = [\"x\"]\nreplicas = 2\nendpoint_listen = \":7233\"\n"), expect: &["worker a: endpoint_listen 127.0.0.1:7233 is one port for 2 replicas"], ..NONE },
];

#[test]
fn bad_input_is_one_line_naming_the_value_and_its_source() {
    let not_pem = temp_file("bad-input-not-pem.crt", NOT_PEM);
    let garbage = temp_file("bad-input-garbage.key", KEY_GARBAGE);
    let mut failures = Vec::new();
    for (i, case) in VALUES.iter().chain(FILES).chain(WORKERS).enumerate() {
        let file = case
            .file
            .map(|text| temp_file(&format!("bad-input-{i}.toml"), text));
        let profile = case
            .profile
            .map(|text| temp_file(&format!("bad-input-profile-{i}.toml"), text));
        let fill = |text: &str| {
            let shown = |p: &Option<std::path::PathBuf>| {
                p.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            };
            text.replace("{file}", &shown(&file))
                .replace("{profile}", &shown(&profile))
                .replace("{not_pem}", &not_pem.display().to_string())
                .replace("{garbage}", &garbage.display().to_string())
        };
        let given: Vec<(&'static str, String)> =
            case.flags.iter().map(|(k, v)| (*k, fill(v))).collect();
        let given: Vec<(&'static str, &str)> =
            given.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut vars: Vec<(String, String)> = case
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), fill(v)))
            .collect();
        if let Some(file) = &file {
            vars.push((
                "TEMPORAL_SUPERVISOR_CONFIG".into(),
                file.display().to_string(),
            ));
        }
        if let Some(profile) = &profile {
            vars.push(("TEMPORAL_CONFIG_FILE".into(), profile.display().to_string()));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cli: Vec<OsString> = case
            .run
            .unwrap_or_default()
            .iter()
            .map(OsString::from)
            .collect();
        let workers = match case.run {
            Some(_) => Workers::Run(&cli),
            None => Workers::None,
        };
        let outcome = resolve(&flags(&given), workers, &env(&vars));
        let Err(error) = outcome else {
            failures.push(format!("{given:?} {vars:?}: resolved"));
            continue;
        };
        // As the binary prints it (a TOML parser's snippet folded away).
        let error = crate::one_line(&error.0);
        let expected: Vec<String> = case.expect.iter().map(|e| fill(e)).collect();
        if !expected.iter().all(|e| error.contains(e.as_str()))
            || error.contains("DEADBEEF")
            || error.contains("1234")
        {
            failures.push(format!(
                "{given:?} {vars:?}: got {error}, want {expected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "bad input handled badly:\n{}",
        failures.join("\n")
    );
}
