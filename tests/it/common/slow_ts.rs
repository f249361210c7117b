//! What the drain tests of a TypeScript SDK worker and of `watch` need: the TypeScript worker
//! with a slow activity (tests/workers/typescript/slow_activities.js), a dev server whose
//! namespaces can complete a worker's open polls, the executions files both slow workers
//! write, and starting workflows without waiting for them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{DevServer, PATIENCE, Scratch, eventually, free_port, stderr};

/// Where the namespace advertises `worker_poll_complete_on_shutdown`: `ShutdownWorker`
/// completes a worker's open polls (off by default, on the dev server too).
pub const COMPLETE_POLLS: &str = "frontend.enableCancelWorkerPollsOnShutdown=true";

impl DevServer {
    /// A server in memory (nothing here must survive a kill) whose namespaces complete a
    /// worker's open polls on `ShutdownWorker`.
    pub fn completing_polls() -> DevServer {
        let mut server = DevServer::unstarted(free_port());
        server.dynamic.push(COMPLETE_POLLS.into());
        server.spawn();
        server
    }

    /// Starts `workflow` on `queue` once per id with `input` (JSON), without waiting.
    pub fn start_workflows(&self, queue: &str, workflow: &str, input: &str, ids: &[String]) {
        for id in ids {
            let out = self.cli(&[
                "workflow",
                "start",
                "--task-queue",
                queue,
                "--type",
                workflow,
                "--workflow-id",
                id,
                "--input",
                input,
            ]);
            assert!(out.status.success(), "start {id}: {}", stderr(&out));
        }
    }

    /// Waits for each workflow's result; fails the test unless each completed. Returns the
    /// CLI's outputs.
    pub fn results(&self, ids: &[String]) -> Vec<String> {
        ids.iter()
            .map(|id| {
                let out = self.cli(&["workflow", "result", "--workflow-id", id]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    out.status.success() && text.contains("COMPLETED"),
                    "{id}: {text}{}",
                    stderr(&out)
                );
                text
            })
            .collect()
    }
}

/// The TypeScript SDK worker at its defaults on `queue`: the example's workflow
/// `ProcessDocument(document)`, whose activity sleeps `seconds` (cancellably) and writes each
/// execution to `executions` as [`Execution`]s.
pub fn ts_slow_worker(queue: &str, executions: &Path, seconds: u32) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sdk = root.join("examples/workers/typescript/node_modules/@temporalio/worker");
    assert!(
        sdk.exists(),
        "the TypeScript SDK is not installed at {}: run ./scripts/setup.sh",
        sdk.display()
    );
    vec![
        "node".into(),
        root.join("tests/workers/typescript/slow_activities.js")
            .to_string_lossy()
            .into_owned(),
        queue.into(),
        executions.to_string_lossy().into_owned(),
        seconds.to_string(),
    ]
}

/// One line of an executions file: `start|done WORKFLOW ATTEMPT PID`.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub what: String,
    pub workflow: String,
    pub attempt: u32,
    pub pid: i32,
}

/// Every line of an executions file so far.
pub fn executions(path: &Path) -> Vec<Execution> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(Execution {
                what: w.next()?.to_string(),
                workflow: w.next()?.to_string(),
                attempt: w.next()?.parse().ok()?,
                pid: w.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// How many lines of the file say `what` (start, done) for one of `workflows`.
pub fn count(path: &Path, what: &str, workflows: &[String]) -> usize {
    executions(path)
        .iter()
        .filter(|e| e.what == what && workflows.contains(&e.workflow))
        .count()
}

/// Asserts that each of `workflows` ran its activity exactly once, to its end, in `pid`:
/// one `start` and one `done` line, attempt 1.
pub fn each_ran_once_in(path: &Path, workflows: &[String], pid: i32) {
    let all = executions(path);
    for id in workflows {
        let runs: Vec<_> = all.iter().filter(|e| &e.workflow == id).collect();
        let whats: Vec<_> = runs.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            whats,
            ["start", "done"],
            "{id} started and done once: {all:?}"
        );
        assert!(
            runs.iter().all(|e| e.attempt == 1 && e.pid == pid),
            "{id}: attempt 1 in {pid}: {all:?}"
        );
    }
}

/// Asserts that every execution of `workflows` ran in `pid` (and at least one did).
pub fn all_ran_in(path: &Path, workflows: &[String], pid: i32) {
    let all = executions(path);
    for id in workflows {
        let runs: Vec<_> = all.iter().filter(|e| &e.workflow == id).collect();
        assert!(
            !runs.is_empty() && runs.iter().all(|e| e.pid == pid),
            "{id} ran in {pid} only: {all:?}"
        );
    }
}

/// Workflow ids `PREFIX-1` to `PREFIX-n`.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A worker run bare on the server (the next pod of a rolling update), its output in a file;
/// killed when dropped.
pub struct BareWorker {
    child: Child,
    output: PathBuf,
    _scratch: Scratch,
}

impl BareWorker {
    /// Starts `command` connected to `address` and waits until it says it polls.
    pub fn start(address: &str, command: &[String]) -> BareWorker {
        let scratch = Scratch::new("bare-worker");
        let output = scratch.path("output");
        let file = std::fs::File::create(&output).expect("create the worker's output file");
        let child = Command::new(&command[0])
            .args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TEMPORAL_ADDRESS", address)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start the bare worker");
        let bare = BareWorker {
            child,
            output,
            _scratch: scratch,
        };
        eventually("the bare worker to poll", PATIENCE, || {
            bare.output().contains("polling")
        });
        bare
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for BareWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
