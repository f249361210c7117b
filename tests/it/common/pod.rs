//! A Kubernetes pod, as far as a poller's identity can tell: a UTS namespace of its own with
//! the pod's hostname, kept by a pause process (as the kubelet's pause container keeps a pod's
//! namespaces), and containers started in it with `nsenter --uts`. The containers of a pod
//! share its hostname, not their pids, which is what `watch` relies on; the network stays the
//! test's own (loopback), as a pod's containers share theirs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{BIN, Scratch};

pub struct Pod {
    pause: Child,
}

impl Pod {
    /// A pod named `hostname` (its UTS namespace set up before this returns).
    pub fn new(hostname: &str) -> Pod {
        let mut pause = Command::new("unshare")
            .args(["--uts", "sh", "-c"])
            .arg(format!(
                "hostname {hostname} && echo up && exec sleep infinity"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the pod's pause process (unshare)");
        let mut line = String::new();
        BufReader::new(pause.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read from the pause process");
        assert_eq!(line.trim(), "up", "the pod's UTS namespace was not set up");
        Pod { pause }
    }

    /// A command that runs `program` as a container of this pod: in its UTS namespace, with a
    /// clean environment (PATH only).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--uts=/proc/{}/ns/uts", self.pause.id()))
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        cmd
    }

    /// `temporal-supervisor` as a container of this pod, with no profile file of the machine's.
    pub fn supervisor(&self) -> Command {
        let mut cmd = self.command(BIN);
        cmd.env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml");
        cmd
    }

    /// Starts a worker (a command line) in this pod connected to `address`, with `env`
    /// besides; its output goes to a file.
    pub fn worker(&self, address: &str, command: &[String], env: &[(&str, &str)]) -> PodWorker {
        let scratch = Scratch::new("pod-worker");
        let output = scratch.path("output");
        let file = std::fs::File::create(&output).expect("create the worker's output file");
        let mut cmd = self.command(&command[0]);
        cmd.args(&command[1..])
            .env("TEMPORAL_ADDRESS", address)
            .envs(env.iter().copied())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd.spawn().expect("start the pod's worker");
        PodWorker {
            child,
            output,
            _scratch: scratch,
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = self.pause.kill();
        let _ = self.pause.wait();
    }
}

/// A worker process in a pod; killed when dropped.
pub struct PodWorker {
    pub child: Child,
    output: PathBuf,
    _scratch: Scratch,
}

impl PodWorker {
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Kills the worker at once (SIGKILL), as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PodWorker {
    fn drop(&mut self) {
        self.kill();
    }
}
