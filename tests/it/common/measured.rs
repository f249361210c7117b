//! Running the supervisor while measuring what it costs: time, and peak memory (from the
//! kernel's own account, `wait4`), under an address-space limit so that an unbounded read
//! fails fast instead of taking the machine's memory.
//!
//! The measured process is started by a small Python launcher, not forked from the test
//! binary: the kernel's peak RSS of a process carries over across `fork` and `exec`, so a child
//! of this test binary (large, with many tests running at once) would report the binary's size
//! at the fork instead of its own.

use std::process::{Command, Stdio};
use std::time::Duration;

/// How a measured run ended.
pub struct Outcome {
    /// `None` when killed by a signal (or by us, at the time limit).
    pub code: Option<i32>,
    pub stderr: String,
    pub elapsed: Duration,
    pub peak_rss_kib: i64,
}

/// Forks the command with a 1 GiB address-space limit and stdout on /dev/null, kills it after
/// the limit, and prints its exit code (-1 when killed), seconds taken and peak RSS in KiB.
const LAUNCHER: &str = r#"
import os, resource, signal, sys, time
limit, argv = float(sys.argv[1]), sys.argv[2:]
start = time.monotonic()
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(argv[0], argv)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.setitimer(signal.ITIMER_REAL, limit)
_, status, usage = os.wait4(pid, 0)
elapsed = time.monotonic() - start
code = os.waitstatus_to_exitcode(status)
print(code if code >= 0 else -1, elapsed, usage.ru_maxrss)
"#;

/// Runs `cmd` (built with `env_clear`, as `supervisor()` does: its environment is all in its
/// settings) under the launcher, killing it after `limit`.
pub fn run_measured(cmd: &mut Command, limit: Duration) -> Outcome {
    let mut launcher = Command::new("python3");
    launcher
        .env_clear()
        .args(["-c", LAUNCHER, &limit.as_secs_f64().to_string()])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => launcher.env(name, value),
            None => launcher.env_remove(name),
        };
    }
    let out = launcher.output().expect("start the measuring launcher");
    let report = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = report.split_whitespace().collect();
    let [code, elapsed, rss] = fields[..] else {
        panic!(
            "the launcher reported {report:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let code: i32 = code.parse().expect("an exit code");
    Outcome {
        code: (code >= 0).then_some(code),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: Duration::from_secs_f64(elapsed.parse().expect("seconds")),
        peak_rss_kib: rss.parse().expect("KiB"),
    }
}
