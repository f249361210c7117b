//! The fuzzers' corpus, replayed on stable: every committed input of every fuzz target
//! (`fuzz/corpus/TARGET/`, minimised with `cargo fuzz cmin`) and every input that once broke
//! one (`fuzz/regressions/TARGET/`) goes through the same entry point as the fuzz target
//! (`temporal_supervisor::fuzz`), and ends in success or one clear line: never a panic or a
//! hang.

use std::path::Path;
use std::time::{Duration, Instant};

use temporal_supervisor::fuzz::TARGETS;

/// A generous bound for one input (each takes microseconds).
const PER_INPUT: Duration = Duration::from_secs(5);

#[test]
fn every_corpus_input_ends_in_success_or_one_clear_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let mut inputs = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(files) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for file in files {
                let path = file.unwrap().path();
                let data = match std::fs::read(&path) {
                    Ok(data) => data,
                    // Replaced by a fuzzer running in this clone at the same time.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("{}: {e}", path.display()),
                };
                inputs += 1;
                let start = Instant::now();
                match std::panic::catch_unwind(|| entry(&data)) {
                    Ok(Ok(())) => {}
                    Ok(Err(line)) if !line.trim().is_empty() && !line.contains('\n') => {}
                    Ok(Err(line)) => {
                        failures.push(format!("{}: not one line: {line:?}", path.display()))
                    }
                    Err(_) => failures.push(format!("{}: panicked", path.display())),
                }
                if start.elapsed() > PER_INPUT {
                    failures.push(format!("{}: took {:?}", path.display(), start.elapsed()));
                }
            }
        }
        assert!(
            inputs > 0,
            "no corpus for the fuzz target {target} in {}",
            root.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
