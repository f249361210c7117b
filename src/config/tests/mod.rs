//! Unit tables for configuration: layering, sources, bad values, the file, the example.

use std::path::PathBuf;
use std::time::Duration;

mod bad_input;
mod values;

use crate::config::address::parse_address;
use crate::config::resolver::Source;
use crate::config::table::ALL;
use crate::config::*;
use crate::process::handover::{EnvChange, connection_env};

/// Resolves as every command but `run` and `exec` does: without a worker's command.
fn resolve(flags: &Flags, env: &Env) -> Result<Config, ConfigError> {
    crate::config::resolve(flags, Workers::None, env)
}

/// Flags as the command line gives them, by setting key.
fn flags(pairs: &[(&'static str, &str)]) -> Flags {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn env(pairs: &[(&str, &str)]) -> Env {
    let mut env: Env = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Keep the developer's own Temporal profile out of the tests.
    if env.get("TEMPORAL_CONFIG_FILE").is_none() {
        env.insert("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml");
    }
    env
}

fn source_of(config: &Config, name: &str) -> Source {
    config
        .report
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} not in report"))
        .source
        .clone()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ts-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults() {
    let c = resolve(&Flags::new(), &env(&[])).unwrap();
    assert_eq!(c.connection.address(), "localhost:7233");
    assert_eq!(c.connection.namespace, "default");
    assert!(c.connection.tls.is_none());
    assert_eq!(c.wait.max_retries, 10);
    assert_eq!(c.wait.initial_delay, Duration::from_secs(1));
    assert_eq!(c.wait.max_delay, Duration::from_secs(60));
    assert_eq!(c.wait.backoff_factor, 2.0);
    assert_eq!(c.wait.timeout, None);
    assert_eq!(c.wait.attempt_timeout, Duration::from_secs(5));
    assert!(
        c.report
            .iter()
            .all(|s| s.source == Source::Default || s.name == "profile")
    );
}

#[test]
fn flag_beats_env_beats_file_beats_profile_beats_default() {
    let profile = temp_file(
        "layers-profile.toml",
        "[profile.default]\naddress = \"profile-host:1\"\nnamespace = \"from-profile\"\n",
    );
    let ours = temp_file(
        "layers-ours.toml",
        "address = \"file-host:2\"\nmax_retries = 3\ninitial_delay = \"250ms\"\n",
    );
    let profile_path = profile.to_str().unwrap();
    let ours_path = ours.to_str().unwrap();

    let layers = [
        (None, None, None, "profile-host:1"),
        (None, None, Some(ours_path), "file-host:2"),
        (None, Some("env-host:3"), Some(ours_path), "env-host:3"),
        (
            Some("flag-host:4"),
            Some("env-host:3"),
            Some(ours_path),
            "flag-host:4",
        ),
    ];
    for (flag, env_value, file, expected) in layers {
        let mut pairs = vec![("TEMPORAL_CONFIG_FILE", profile_path)];
        if let Some(v) = env_value {
            pairs.push(("TEMPORAL_ADDRESS", v));
        }
        if let Some(f) = file {
            pairs.push(("TEMPORAL_SUPERVISOR_CONFIG", f));
        }
        let options = match flag {
            Some(flag) => flags(&[("address", flag)]),
            None => flags(&[]),
        };
        let c = resolve(&options, &env(&pairs)).unwrap();
        assert_eq!(c.connection.address(), expected);
        // The namespace only ever comes from the profile here.
        assert_eq!(c.connection.namespace, "from-profile");
    }

    let c = resolve(
        &flags(&[("max_retries", "7")]),
        &env(&[
            ("TEMPORAL_SUPERVISOR_CONFIG", ours_path),
            ("TEMPORAL_SUPERVISOR_MAX_RETRIES", "5"),
        ]),
    )
    .unwrap();
    assert_eq!(c.wait.max_retries, 7);
    assert_eq!(
        source_of(&c, "max_retries"),
        Source::Flag("--max-retries".into())
    );
    assert_eq!(c.wait.initial_delay, Duration::from_millis(250));
    assert!(matches!(
        source_of(&c, "initial_delay"),
        Source::File { .. }
    ));
    assert_eq!(source_of(&c, "max_delay"), Source::Default);
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let c = resolve(
        &Flags::new(),
        &env(&[
            ("TEMPORAL_ADDRESS", ""),
            ("TEMPORAL_SUPERVISOR_MAX_RETRIES", ""),
        ]),
    )
    .unwrap();
    assert_eq!(c.connection.address(), "localhost:7233");
    assert_eq!(c.wait.max_retries, 10);
}

#[test]
fn addresses() {
    let ok = [
        ("localhost:7233", (false, "localhost", 7233)),
        ("127.0.0.1:1", (false, "127.0.0.1", 1)),
        ("[::1]:7233", (false, "::1", 7233)),
        ("http://temporal:7233", (false, "temporal", 7233)),
        (
            "https://ns.tmprl.cloud:7233",
            (true, "ns.tmprl.cloud", 7233),
        ),
        ("https://x.example:443", (true, "x.example", 443)),
        ("https://x.example:443/", (true, "x.example", 443)),
        ("h:80", (false, "h", 80)),
    ];
    for (text, (tls, host, port)) in ok {
        let parsed = parse_address(text).map(|t| (t.https, t.host, t.port));
        assert_eq!(parsed, Ok((tls, host.to_string(), port)), "{text}");
    }
    for bad in [
        "localhost",
        "",
        ":7233",
        "host:port",
        "host:99999",
        "http://h:1/path",
        "u:p@h:1",
        "h:0",
        "https://h",
        "http://h",
    ] {
        assert!(parse_address(bad).is_err(), "{bad} should be rejected");
    }
    assert_eq!(parse_address(" x:1 ").unwrap().text, "x:1");
}

#[test]
fn api_key_implies_tls_and_is_redacted() {
    let c = resolve(&Flags::new(), &env(&[("TEMPORAL_API_KEY", "sekrit-123")])).unwrap();
    assert!(c.connection.tls.is_some());
    assert!(matches!(source_of(&c, "tls"), Source::Implied(_)));
    let report = render_report(&c.report);
    assert!(!report.contains("sekrit-123"), "{report}");
    assert!(report.contains("<redacted>"));
    assert!(c.warnings.is_empty());
}

#[test]
fn an_api_key_file_is_read_trimmed_and_never_shown_and_not_given_twice() {
    let path = temp_file("api-key", "sekrit-456\n");
    let file = path.to_str().unwrap();
    let c = resolve(&flags(&[("api_key_file", file)]), &env(&[])).unwrap();
    assert_eq!(c.connection.api_key.as_deref(), Some("sekrit-456"));
    assert!(c.connection.tls.is_some(), "a key turns TLS on");
    let report = render_report(&c.report);
    assert!(!report.contains("sekrit-456"), "{report}");
    assert!(report.contains(file), "{report}");
    let both = resolve(
        &flags(&[("api_key_file", file)]),
        &env(&[("TEMPORAL_API_KEY", "other")]),
    )
    .unwrap_err();
    assert!(both.0.contains("given twice"), "{both}");
    assert!(both.0.contains("TEMPORAL_API_KEY"), "{both}");
    let empty = temp_file("api-key-empty", "\n");
    let e = resolve(
        &flags(&[("api_key_file", empty.to_str().unwrap())]),
        &env(&[]),
    )
    .unwrap_err();
    assert!(e.0.contains("it is empty"), "{e}");
    assert!(e.0.contains("flag --api-key-file"), "{e}");
}

#[test]
fn api_key_without_tls_warns() {
    let c = resolve(
        &flags(&[("tls", "false")]),
        &env(&[("TEMPORAL_API_KEY", "sekrit-123")]),
    )
    .unwrap();
    assert!(c.connection.tls.is_none());
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("clear text"));
    assert!(!c.warnings[0].contains("sekrit-123"));
}

#[test]
fn zero_timeout_means_none() {
    let c = resolve(&flags(&[("timeout", "0")]), &env(&[])).unwrap();
    assert_eq!(c.wait.timeout, None);
    let c = resolve(&flags(&[("timeout", "1m30s")]), &env(&[])).unwrap();
    assert_eq!(c.wait.timeout, Some(Duration::from_secs(90)));
}

#[test]
fn example_file_documents_every_key_with_its_default() {
    let example = include_str!("../../../config/temporal-supervisor.toml");
    for key in ALL.iter().filter(|d| d.in_file) {
        assert!(
            example.contains(&format!("\n# {} = ", key.key)),
            "config/temporal-supervisor.toml does not document {}",
            key.key
        );
    }
    // Uncommented, the documented values must be the defaults (paths and secrets aside).
    let uncommented: String = example
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ")
                .is_some_and(|(k, _)| ALL.iter().any(|key| key.key == k))
                && !l.starts_with("api_key")
                && !l.starts_with("tls_")
                && !l.starts_with("health_listen")
                && !l.starts_with("task_queue =")
                && !l.starts_with("worker_identity")
                && !l.starts_with("deployment_name")
                && !l.starts_with("build_id")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = temp_file("example.toml", &uncommented);
    let from_file = resolve(&flags(&[("config", path.to_str().unwrap())]), &env(&[])).unwrap();
    let defaults = resolve(&Flags::new(), &env(&[])).unwrap();
    assert_eq!(from_file.wait, defaults.wait);
    assert_eq!(from_file.run, defaults.run);
    assert_eq!(from_file.health, defaults.health);
    assert_eq!(from_file.log.format, defaults.log.format);
    assert_eq!(from_file.log.level, Some(tracing::Level::INFO));
    assert_eq!(
        from_file.connection.address(),
        defaults.connection.address()
    );
    assert_eq!(
        from_file.connection.namespace,
        defaults.connection.namespace
    );
    assert!(
        from_file
            .report
            .iter()
            .any(|s| matches!(s.source, Source::File { .. }))
    );
}

#[test]
fn the_worker_gets_the_connection_under_temporals_names() {
    let get = |env: &[EnvChange], name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not handed over"))
            .1
            .clone()
    };
    let made = rcgen::generate_simple_self_signed(vec!["ns.example".to_string()]).unwrap();
    let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());
    let ca = temp_file("handover-ca.pem", &cert_pem);
    let c = resolve(
        &flags(&[
            ("address", "https://ns.example:7233"),
            ("tls_ca_path", &ca.to_string_lossy()),
        ]),
        &env(&[
            ("TEMPORAL_API_KEY", "sekrit"),
            ("TEMPORAL_TLS_CLIENT_CERT_DATA", &cert_pem),
            ("TEMPORAL_TLS_CLIENT_KEY_DATA", &key_pem),
            ("TEMPORAL_GRPC_META_X_TEAM", "docs"),
        ]),
    )
    .unwrap();
    let handed = connection_env(&c.connection);
    assert_eq!(get(&handed, "TEMPORAL_ADDRESS").unwrap(), "ns.example:7233");
    assert_eq!(get(&handed, "TEMPORAL_NAMESPACE").unwrap(), "default");
    assert_eq!(get(&handed, "TEMPORAL_API_KEY").unwrap(), "sekrit");
    assert_eq!(get(&handed, "TEMPORAL_TLS").unwrap(), "true");
    // A path stays a path (made absolute), and its _DATA form is removed; inline data the
    // other way round.
    assert_eq!(
        get(&handed, "TEMPORAL_TLS_SERVER_CA_CERT_PATH").unwrap(),
        ca.to_string_lossy()
    );
    assert_eq!(get(&handed, "TEMPORAL_TLS_SERVER_CA_CERT_DATA"), None);
    assert_eq!(get(&handed, "TEMPORAL_TLS_CLIENT_CERT_PATH"), None);
    assert_eq!(
        get(&handed, "TEMPORAL_TLS_CLIENT_CERT_DATA").unwrap(),
        cert_pem
    );
    assert_eq!(
        get(&handed, "TEMPORAL_TLS_CLIENT_KEY_DATA").unwrap(),
        key_pem
    );
    assert_eq!(get(&handed, "TEMPORAL_TLS_SERVER_NAME"), None);
    assert_eq!(get(&handed, "TEMPORAL_GRPC_META_X_TEAM").unwrap(), "docs");

    // Without TLS or a key, those variables are removed from the worker's environment.
    let plain = resolve(&Flags::new(), &env(&[])).unwrap();
    let handed = connection_env(&plain.connection);
    assert_eq!(get(&handed, "TEMPORAL_TLS").unwrap(), "false");
    for name in [
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
        "TEMPORAL_TLS_SERVER_NAME",
    ] {
        assert_eq!(get(&handed, name), None, "{name}");
    }
}

#[test]
fn watch_says_which_settings_it_does_not_use() {
    let given = flags(&[
        ("health_listen", ":0"),
        ("task_queue", "documents"),
        ("stop_timeout", "3s"),
        ("poller_deadline", "10s"),
    ]);
    let config = crate::config::resolve(&given, Workers::Watch, &env(&[])).unwrap();
    assert_eq!(
        config.warnings,
        [
            "stop_timeout (flag --stop-timeout) does not apply to watch, which starts nothing",
            "poller_deadline (flag --poller-deadline) does not apply to watch, which starts nothing",
        ]
    );
}
