//! Values as the sources give them: TLS material, TOML's numbers, gRPC headers, the log level
//! in the report, and the warning about half of a deployment version.

use super::{env, flags, render_report, resolve, temp_file};
use crate::config::{Flags, Workers};

#[test]
fn a_client_key_that_is_not_the_certificates_is_refused_at_start() {
    let one = rcgen::generate_simple_self_signed(vec!["a.example".to_string()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["b.example".to_string()]).unwrap();
    let given = |key: &str| {
        let variables = [
            ("TEMPORAL_TLS_CLIENT_CERT_DATA", one.cert.pem()),
            ("TEMPORAL_TLS_CLIENT_KEY_DATA", key.to_string()),
        ];
        let variables: Vec<(&str, &str)> =
            variables.iter().map(|(n, v)| (*n, v.as_str())).collect();
        resolve(&Flags::new(), &env(&variables))
    };
    assert!(given(&one.signing_key.serialize_pem()).is_ok());
    let error = given(&other.signing_key.serialize_pem()).unwrap_err().0;
    assert!(
        error.contains("environment variable TEMPORAL_TLS_CLIENT_KEY_DATA"),
        "{error}"
    );
    assert!(error.contains("do not belong together"), "{error}");
    assert!(
        !error.contains("PRIVATE KEY"),
        "the key is never shown: {error}"
    );
}

#[test]
fn toml_numbers_reach_the_settings_as_their_values() {
    // Digit separators and other radixes are TOML's, so the settings see plain numbers.
    let file = temp_file(
        "numbers.toml",
        "max_retries = 1_000\nmax_restarts = 0x1F\nbackoff_factor = 1_0.5\n",
    );
    let c = resolve(&flags(&[("config", &file.to_string_lossy())]), &env(&[])).unwrap();
    assert_eq!(c.wait.max_retries, 1000);
    assert_eq!(c.wait.backoff_factor, 10.5);
    let report = render_report(&c.report);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("max_restarts") && l.contains("= 31 ")),
        "{report}"
    );
}

#[test]
fn the_environments_grpc_headers_win_over_the_profiles() {
    let profile = temp_file(
        "headers.toml",
        "[profile.default.grpc_meta]\nx-team = \"p\"\nx-only-profile = \"q\"\n",
    );
    let profile = profile.to_string_lossy();
    let c = resolve(
        &Flags::new(),
        &env(&[
            ("TEMPORAL_CONFIG_FILE", &profile),
            ("TEMPORAL_GRPC_META_X_TEAM", "env"),
        ]),
    )
    .unwrap();
    let headers = &c.connection.headers;
    assert_eq!(headers.get("x-team").map(String::as_str), Some("env"));
    assert_eq!(headers.get("x-only-profile").map(String::as_str), Some("q"));
}

#[test]
fn the_report_says_where_the_log_level_comes_from() {
    let line = |vars: &[(&str, &str)]| {
        let report = render_report(&resolve(&Flags::new(), &env(vars)).unwrap().report);
        let line = report.lines().find(|l| l.starts_with("log_level "));
        line.map(str::to_string).expect("a log_level line")
    };
    let unset = line(&[]);
    assert!(
        unset.contains("(info, or RUST_LOG's filter)") && unset.ends_with("(default)"),
        "{unset}"
    );
    let from_env = line(&[("RUST_LOG", "debug,h2=warn")]);
    assert!(
        from_env.contains("debug,h2=warn") && from_env.ends_with("(environment variable RUST_LOG)"),
        "{from_env}"
    );
    let given = line(&[
        ("RUST_LOG", "debug"),
        ("TEMPORAL_SUPERVISOR_LOG_LEVEL", "warn"),
    ]);
    assert!(
        given.contains("= warn ")
            && given.ends_with("(environment variable TEMPORAL_SUPERVISOR_LOG_LEVEL)"),
        "{given}"
    );
}

#[test]
fn half_a_deployment_version_is_a_warning_naming_the_worker() {
    let half = "worker versioning needs both a deployment name";
    let single = resolve(&flags(&[("deployment_name", "docs")]), &env(&[])).unwrap();
    assert!(
        single.warnings.iter().any(|w| w.starts_with(half)),
        "{:?}",
        single.warnings
    );
    let file = temp_file("half-version.toml", "[workers.a]\nbuild_id = \"b1\"\n");
    let file = file.to_string_lossy();
    let named =
        crate::config::resolve(&flags(&[("config", &file)]), Workers::None, &env(&[])).unwrap();
    let expected = format!("worker a: {half}");
    assert!(
        named.warnings.iter().any(|w| w.starts_with(&expected)),
        "{:?}",
        named.warnings
    );
    let both = resolve(
        &flags(&[("deployment_name", "docs"), ("build_id", "b1")]),
        &env(&[]),
    )
    .unwrap();
    assert!(
        !both.warnings.iter().any(|w| w.contains(half)),
        "{:?}",
        both.warnings
    );
}
