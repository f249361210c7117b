//! Every file input is read within bounds: a device, a FIFO, a directory or a file over its
//! cap, named by a flag, a variable, a profile file or the default location, is exit 2 with
//! one line naming the file, where it came from and why, at once and in a few MiB.

use std::path::Path;
use std::time::Duration;

use crate::common::measured::run_measured;
use crate::common::*;

/// What a bad file input may cost at most: the tests' generous bounds for "within a second,
/// in a few MiB".
const TIME_LIMIT: Duration = Duration::from_secs(10);
const MEMORY_LIMIT_KIB: i64 = 64 * 1024;

struct Case {
    args: Vec<String>,
    env: Vec<(&'static str, Option<String>)>,
    expect: Vec<String>,
}

fn case(args: &[&str], env: &[(&'static str, Option<&str>)], expect: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.iter().map(|(k, v)| (*k, v.map(String::from))).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

fn fifo(path: &Path) -> String {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    path.to_string_lossy().into_owned()
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn devices_fifos_directories_and_huge_files_are_refused_at_once() {
    let scratch = Scratch::new("bounded-files");
    let fifo_path = fifo(&scratch.path("secret.fifo"));
    let dir = text(&scratch.0);
    let huge_toml = scratch.path("huge.toml");
    std::fs::write(&huge_toml, vec![b'#'; 1024 * 1024 + 1]).unwrap();
    let huge_toml = text(&huge_toml);
    let huge_pem = scratch.path("huge.pem");
    std::fs::write(&huge_pem, vec![b'-'; 3 * 1024 * 1024]).unwrap();
    let huge_pem = text(&huge_pem);
    let zero_link = scratch.path("mounted-secret.pem");
    std::os::unix::fs::symlink("/dev/zero", &zero_link).unwrap();
    let zero_link = text(&zero_link);
    let cert = scratch.path("client.crt");
    std::fs::write(&cert, "not yet checked\n").unwrap();
    let cert = text(&cert);
    let profile_naming_fifo = scratch.path("temporal.toml");
    std::fs::write(
        &profile_naming_fifo,
        format!("[profile.default.tls]\nserver_ca_cert_path = \"{fifo_path}\"\n"),
    )
    .unwrap();
    let profile_naming_fifo = text(&profile_naming_fifo);
    // A home whose default profile location is a FIFO (Temporal's loader looks there).
    let home = scratch.path("home");
    std::fs::create_dir_all(home.join(".config/temporalio")).unwrap();
    fifo(&home.join(".config/temporalio/temporal.toml"));
    let home = text(&home);

    let cases = vec![
        case(
            &["config", "--config", "/dev/zero"],
            &[],
            &[
                "config file /dev/zero (from flag --config)",
                "not a regular file (a character device)",
            ],
        ),
        case(
            &["config", "--config", &fifo_path],
            &[],
            &[&fifo_path, "flag --config", "not a regular file (a FIFO)"],
        ),
        case(
            &["config"],
            &[("TEMPORAL_SUPERVISOR_CONFIG", Some(&dir))],
            &[
                &dir,
                "environment variable TEMPORAL_SUPERVISOR_CONFIG",
                "(a directory)",
            ],
        ),
        case(
            &["config", "--config", &huge_toml],
            &[],
            &[&huge_toml, "over the 1 MiB limit for a config file"],
        ),
        case(
            &["check", "--tls-ca-path", &zero_link],
            &[],
            &[&zero_link, "flag --tls-ca-path", "(a character device)"],
        ),
        case(
            &[
                "check",
                "--tls-cert-path",
                &fifo_path,
                "--tls-key-path",
                &cert,
            ],
            &[],
            &[&fifo_path, "flag --tls-cert-path", "(a FIFO)"],
        ),
        case(
            &[
                "check",
                "--tls-cert-path",
                &cert,
                "--tls-key-path",
                "/dev/zero",
            ],
            &[],
            &["/dev/zero", "flag --tls-key-path", "(a character device)"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_TLS_SERVER_CA_CERT_PATH", Some(&huge_pem))],
            &[
                &huge_pem,
                "environment variable TEMPORAL_TLS_SERVER_CA_CERT_PATH",
                "3 MiB, over the 2 MiB limit for a PEM file",
            ],
        ),
        case(
            &["check"],
            &[("TEMPORAL_CONFIG_FILE", Some("/dev/zero"))],
            &[
                "Temporal profile file /dev/zero (from environment variable TEMPORAL_CONFIG_FILE)",
                "(a character device)",
            ],
        ),
        case(
            &["check"],
            &[("TEMPORAL_CONFIG_FILE", Some(&fifo_path))],
            &[&fifo_path, "TEMPORAL_CONFIG_FILE", "(a FIFO)"],
        ),
        case(
            &["check"],
            &[("TEMPORAL_CONFIG_FILE", Some(&profile_naming_fifo))],
            &[
                &format!("Temporal profile 'default' in {profile_naming_fifo}"),
                &fifo_path,
                "(a FIFO)",
            ],
        ),
        case(
            &["check"],
            &[("TEMPORAL_CONFIG_FILE", None), ("HOME", Some(&home))],
            &[
                &format!("Temporal profile file {home}/.config/temporalio/temporal.toml"),
                "(from default)",
                "(a FIFO)",
            ],
        ),
    ];

    let mut failures = Vec::new();
    for c in &cases {
        let mut cmd = supervisor();
        cmd.args(&c.args);
        for (name, value) in &c.env {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
        let out = run_measured(&mut cmd, TIME_LIMIT);
        let lines = out.stderr.lines().count();
        let ok = out.code == Some(2)
            && lines == 1
            && c.expect.iter().all(|e| out.stderr.contains(e.as_str()))
            && out.elapsed < TIME_LIMIT
            && out.peak_rss_kib < MEMORY_LIMIT_KIB;
        if !ok {
            failures.push(format!(
                "{:?} {:?}: exit {:?} after {:?}, peak RSS {} KiB, {lines} line(s): {}",
                c.args, c.env, out.code, out.elapsed, out.peak_rss_kib, out.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "file inputs read without bounds:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_default_profile_file_is_found_through_the_environment_given() {
    let scratch = Scratch::new("bounded-files-home");
    let dir = scratch.path("xdg/temporalio");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("temporal.toml"),
        "[profile.default]\naddress = \"from-xdg:7233\"\n",
    )
    .unwrap();
    let (out, _) = run_cmd(
        supervisor()
            .arg("config")
            .env_remove("TEMPORAL_CONFIG_FILE")
            .env("HOME", "/nonexistent")
            .env("XDG_CONFIG_HOME", scratch.path("xdg")),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    let address = report
        .lines()
        .find(|l| l.starts_with("address "))
        .unwrap_or_default();
    assert!(
        address.contains("from-xdg:7233") && address.contains("Temporal profile 'default'"),
        "{report}"
    );
}
