//! Puts the commit of the sources the binary is built from into `--version`, so that a bug
//! report says what runs: `temporal-supervisor 0.1.0 (576f63f5a2b1 2026-12-01)`, the last commit
//! that changed the build's sources (src/, build.rs, Cargo.toml, Cargo.lock), with `-dirty` after
//! it when they differ from it. A commit that changes nothing else (docs, tests, scripts) does
//! not change the binary, so a build cached by the sources' content (the packaging's cross
//! builds, scripts/cross-build.sh) is the binary this checkout would build.
//!
//! Outside a git checkout of this crate (a wheel or package built from a source archive, git
//! missing, the sources inside some other repository) there is no commit to name, and the
//! version is the crate's alone. Sets `TEMPORAL_SUPERVISOR_BUILD` to the text after the version.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: &[&str] = &["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let suffix = match describe(&dir) {
        Some(build) => {
            for path in &build.watch {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            for source in SOURCES {
                println!("cargo:rerun-if-changed={source}");
            }
            let dirty = if build.dirty { "-dirty" } else { "" };
            format!(" ({}{dirty} {})", build.commit, build.date)
        }
        None => {
            println!("cargo:rerun-if-changed=build.rs");
            String::new()
        }
    };
    println!("cargo:rustc-env=TEMPORAL_SUPERVISOR_BUILD={suffix}");
}

struct Build {
    /// The first 12 hex digits of the last commit that changed the sources.
    commit: String,
    /// That commit's date, YYYY-MM-DD.
    date: String,
    /// Whether the sources differ from HEAD (untracked files in src/ included).
    dirty: bool,
    /// What changes when HEAD moves (and with it, maybe, the sources' commit): HEAD itself
    /// and the branch's ref.
    watch: Vec<PathBuf>,
}

fn describe(dir: &Path) -> Option<Build> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("--no-optional-locks")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    // Only this crate's own checkout counts, not a repository that happens to contain it.
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let mut log = vec!["log", "-1", "--format=%h %cs", "--abbrev=12", "--"];
    log.extend(SOURCES);
    let (commit, date) = git(&log)?
        .split_once(' ')
        .map(|(c, d)| (c.to_owned(), d.to_owned()))?;
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(SOURCES);
    let dirty = !git(&status)?.is_empty();

    let path = |name: &str| git(&["rev-parse", "--path-format=absolute", "--git-path", name]);
    let mut watch = vec![PathBuf::from(path("HEAD")?)];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        // A loose ref file changes on every commit; a packed one does not exist yet, so watch
        // packed-refs and the folder the loose file will appear in.
        let loose = PathBuf::from(path(&branch)?);
        if loose.exists() {
            watch.push(loose);
        } else {
            watch.push(PathBuf::from(path("packed-refs")?));
            watch.extend(
                loose
                    .ancestors()
                    .skip(1)
                    .find(|p| p.exists())
                    .map(Path::to_owned),
            );
        }
    }
    watch.retain(|p| p.exists());
    Some(Build {
        commit,
        date,
        dirty,
        watch,
    })
}
