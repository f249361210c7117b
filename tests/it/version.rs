//! `--version` says what runs: the crate's version and, built in this checkout, the last commit
//! that changed the sources (`-dirty` when they differ from it), whatever commit came after it.
//! Built anywhere else (a source archive, no git, the crate inside another repository), the
//! crate's version alone, never a wrong commit.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const SOURCES: &[&str] = &["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The last commit that changed the sources: its short hash, and its date.
fn sources_commit(repo: &Path) -> (String, String) {
    let mut log = vec!["log", "-1", "--format=%h %cs", "--abbrev=12", "--"];
    log.extend(SOURCES);
    let line = git(repo, &log);
    let (commit, date) = line.split_once(' ').expect("a commit and a date");
    (commit.to_owned(), date.to_owned())
}

#[test]
fn version_names_the_crate_version_and_the_commit_of_the_sources() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (commit, date) = sources_commit(repo);
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(SOURCES);
    let dirty = if git(repo, &status).is_empty() {
        ""
    } else {
        "-dirty"
    };
    let expected = format!(
        "temporal-supervisor {} ({commit}{dirty} {date})\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(commit.len(), 12, "{commit}");
    for flag in ["--version", "-V"] {
        let (out, _) = run_cmd(supervisor().arg(flag));
        assert_eq!(code_of(&out), 0, "{flag}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{flag}");
    }
}

/// Runs the crate's real build script, compiled on its own, with `dir` as the crate's folder;
/// returns what it tells cargo.
fn build_script_output(scratch: &Scratch, dir: &Path, path_env: &str) -> String {
    let script = scratch.path("build-script");
    if !script.exists() {
        let (out, _) = run_cmd(
            Command::new("rustc")
                .args(["--edition", "2024", "--crate-name", "build_script_build"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"))
                .arg("-o")
                .arg(&script),
        );
        assert_eq!(code_of(&out), 0, "rustc build.rs: {}", stderr(&out));
    }
    let (out, _) = run_cmd(
        Command::new(&script)
            .env_clear()
            .env("PATH", path_env)
            .env("CARGO_MANIFEST_DIR", dir),
    );
    assert_eq!(code_of(&out), 0, "build script: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn without_a_checkout_of_its_own_the_version_is_the_crates_alone() {
    let scratch = Scratch::new("version");
    let path = std::env::var("PATH").unwrap();
    let unknown = "cargo:rerun-if-changed=build.rs\ncargo:rustc-env=TEMPORAL_SUPERVISOR_BUILD=\n";

    // Unpacked from a source archive: no .git anywhere above.
    let unpacked = scratch.path("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    assert_eq!(build_script_output(&scratch, &unpacked, &path), unknown);

    // Inside some other repository (vendored): its commits are not ours.
    let outer = scratch.path("outer");
    let vendored = outer.join("vendor/temporal-supervisor");
    std::fs::create_dir_all(&vendored).unwrap();
    git(&outer, &["init", "-q"]);
    git(
        &outer,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "outer",
        ],
    );
    assert_eq!(build_script_output(&scratch, &vendored, &path), unknown);

    // This very checkout, but no git on PATH.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let no_git = scratch.path("empty-bin");
    std::fs::create_dir_all(&no_git).unwrap();
    assert_eq!(
        build_script_output(&scratch, repo, no_git.to_str().unwrap()),
        unknown
    );

    // And with git, the commit of this checkout's sources, with HEAD and the sources watched.
    let here = build_script_output(&scratch, repo, &path);
    let (commit, _) = sources_commit(repo);
    assert!(
        here.contains(&format!(
            "cargo:rustc-env=TEMPORAL_SUPERVISOR_BUILD= ({commit}"
        )),
        "{here}"
    );
    let head = git(
        repo,
        &["rev-parse", "--path-format=absolute", "--git-path", "HEAD"],
    );
    assert!(
        here.contains(&format!("cargo:rerun-if-changed={head}\n")),
        "{here}"
    );
    assert!(here.contains("cargo:rerun-if-changed=src\n"), "{here}");
}
