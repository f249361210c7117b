//! Entry points for fuzzing: the inputs a user, a neighbour or a mis-mounted volume controls,
//! each taking arbitrary bytes. The fuzz targets (`fuzz/fuzz_targets/`, `cargo +nightly fuzz`)
//! call them, and so does the replay of their corpus on stable (`tests/fuzz_corpus.rs`).
//!
//! Each returns `Ok` or the one line the program would exit 2 with; a broken promise (a
//! value accepted that the program could not use, an error that is not one clear line) is a
//! panic, which is what the fuzzer looks for, along with aborts, hangs and memory growth.

use std::path::PathBuf;

use crate::config::address::{join_address, parse_address, shown_address};
use crate::config::kinds::{Kind, StopSignal};
use crate::config::profile::ProfileFile;
use crate::config::resolver::Resolver;
use crate::config::{self, ConfigError, Env, Flags, Workers};
use crate::duration;
use crate::temporal::identity as identities;

/// A fuzzed input's entry point: arbitrary bytes in, `Ok` or the one line of an exit 2 out.
pub type Entry = fn(&[u8]) -> Result<(), String>;

/// All the fuzzed inputs, by the name of their fuzz target and corpus directory.
pub const TARGETS: &[(&str, Entry)] = &[
    ("config_file", config_file),
    ("profile_file", profile_file),
    ("duration", duration),
    ("address", address),
    ("signal", signal),
    ("identity", identity),
];

/// Our TOML config file, resolved whole (every setting, every worker) with no flags and an
/// empty environment.
pub fn config_file(data: &[u8]) -> Result<(), String> {
    let file = config::file::from_data(PathBuf::from("fuzzed.toml"), data).map_err(line)?;
    let env = Env::default();
    let mut r = Resolver::new(Flags::new(), &env);
    r.file = Some(file);
    let resolved = config::resolve_with(r, Workers::None, &env, None);
    resolved.map(drop).map_err(line)
}

/// Temporal's profile file (`temporal.toml`), resolved whole as the layer under ours.
pub fn profile_file(data: &[u8]) -> Result<(), String> {
    let profile = ProfileFile {
        path: "fuzzed/temporal.toml".into(),
        data: Some(data.to_vec()),
    };
    let env = Env::default();
    let r = Resolver::new(Flags::new(), &env);
    let resolved = config::resolve_with(r, Workers::None, &env, Some(&profile));
    resolved.map(drop).map_err(line)
}

/// A duration (`500ms`, `1m30s`, `1.5`): an accepted one is within a hundred years and is
/// shown in a form that is accepted again.
pub fn duration(data: &[u8]) -> Result<(), String> {
    let text = text(data)?;
    let d = duration::parse(text)?;
    assert!(d.as_secs() <= 100 * 365 * 24 * 3600, "{text:?} gave {d:?}");
    let shown = duration::format(d);
    assert!(
        duration::parse(&shown).is_ok(),
        "{text:?} is shown as {shown:?}, which is refused"
    );
    Ok(())
}

/// A Temporal address: an accepted one is shown as `host:port` that parses back to the same
/// host and port, and makes the URL the client is given; showing any text never panics.
pub fn address(data: &[u8]) -> Result<(), String> {
    let text = text(data)?;
    let _ = shown_address(text);
    let target = parse_address(text)?;
    let (tls, host, port) = (target.https, target.host, target.port);
    let joined = join_address(&host, port);
    assert_eq!(
        parse_address(&joined).map(|t| (t.host, t.port)),
        Ok((host.clone(), port)),
        "{text:?} is shown as {joined:?}"
    );
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{joined}");
    assert!(
        temporalio_client::Url::parse(&url).is_ok(),
        "{text:?} makes the URL {url:?}, which does not parse"
    );
    Ok(())
}

/// A signal name or number: an accepted one can be sent (never SIGKILL or SIGSTOP) and its
/// name is accepted as the same signal.
pub fn signal(data: &[u8]) -> Result<(), String> {
    let text = text(data)?;
    let signal = StopSignal::parse(text).map_err(|_| "refused".to_string())?;
    assert!(
        !matches!(
            signal,
            nix::sys::signal::Signal::SIGKILL | nix::sys::signal::Signal::SIGSTOP
        ),
        "{text:?}"
    );
    assert_eq!(StopSignal::parse(signal.as_str()), Ok(signal), "{text:?}");
    Ok(())
}

/// The worker identity pattern (`*` matches any run of characters) against an identity: the
/// input is the pattern, a NUL byte, then the identity. The answer must be a plain glob's.
pub fn identity(data: &[u8]) -> Result<(), String> {
    let text = text(data)?;
    let (pattern, identity) = text.split_once('\0').unwrap_or((text, ""));
    let got = identities::matches(pattern, identity);
    let want = glob(pattern.as_bytes(), identity.as_bytes());
    assert_eq!(got, want, "{pattern:?} against {identity:?}");
    Ok(())
}

/// The reference glob: `*` matches any run of bytes, everything else itself (dynamic
/// programming over the pattern, so no input can make it slow).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // matched[j]: the pattern so far matches text[..j].
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for &p in pattern {
        if p == b'*' {
            for j in 1..=text.len() {
                matched[j] = matched[j] || matched[j - 1];
            }
        } else {
            for j in (1..=text.len()).rev() {
                matched[j] = matched[j - 1] && text[j - 1] == p;
            }
            matched[0] = false;
        }
    }
    matched[text.len()]
}

fn text(data: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(data).map_err(|_| "not UTF-8 text".to_string())
}

/// The error as the program prints it: one line, never empty.
fn line(e: ConfigError) -> String {
    let shown = crate::one_line(&e.0);
    assert!(
        !shown.trim().is_empty(),
        "an error that shows as nothing: {:?}",
        e.0
    );
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_glob() {
        for (pattern, text, expected) in [
            ("a*b", "ab", true),
            ("a*b", "axxb", true),
            ("a*a", "a", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("**x*", "yxy", true),
            ("1@host", "1@host", true),
            ("1@host", "1@hosts", false),
        ] {
            assert_eq!(
                glob(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} {text}"
            );
        }
    }

    #[test]
    fn good_and_bad_inputs() {
        assert_eq!(duration(b"1m30s"), Ok(()));
        assert!(duration(b"soon").is_err());
        assert_eq!(address(b"[::1]:7233"), Ok(()));
        assert!(address(b"http://user:secret@host:1").is_err());
        assert_eq!(signal(b"term"), Ok(()));
        assert!(signal(b"KILL").is_err());
        assert_eq!(identity(b"*@pod-7\x0012@pod-7"), Ok(()));
        assert_eq!(config_file(b"max_retries = 3\n"), Ok(()));
        assert!(config_file(b"max_retries = 'x'\n").is_err());
        assert_eq!(
            profile_file(b"[profile.default]\naddress = \"h:1\"\n"),
            Ok(())
        );
        assert!(profile_file(b"[profile.default\n").is_err());
    }
}
