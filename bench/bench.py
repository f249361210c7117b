"""Benchmarks of the readiness gate, side by side with the alternatives, in one run.

    ./bench/run.sh [--runs N] [--lag-trials K]

1. `check` against a ready dev server vs `temporal operator cluster health` vs the seed's
   Python SDK `Client.connect` script: wall time and peak RSS of each process, interleaved.
2. Readiness lag: `wait` (default settings) and the seed's wait script start together; the
   dev server starts at a random moment 2-30 s later; lag = exit time - port-open time.

Prints Markdown tables. Everything runs on loopback ports of this machine.
"""
import argparse
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import free_ports  # noqa: E402
VENV = ROOT / ".venv" / "bin"
TEMPORAL = str(VENV / "temporal")
PYTHON = str(VENV / "python")
SUPERVISOR = str(ROOT / "target" / "release" / "temporal-supervisor")
GNU_TIME = "/usr/bin/time"
CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}


_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A free loopback port, never the same twice in this run (parallel trials must not
    collide before their servers bind); see scripts/free_ports.py for where it comes from."""
    with _ports_lock:
        port = free_ports.free_port(_handed_out)
        _handed_out.add(port)
        return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_server(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--http-port", str(free_port()),
         "--metrics-port", str(free_port()), "--log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, 9)
    except ProcessLookupError:
        pass
    server.wait()


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """Runs cmd under GNU time; returns (wall seconds, peak RSS in KiB, exit code).

    GNU time, not this script, forks the command: a child forked from Python would count
    Python's own pages in its peak RSS until it execs.
    """
    start = time.perf_counter()
    proc = subprocess.run([GNU_TIME, "-f", "%M", *cmd], env=CLEAN_ENV, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        print(f"{cmd[0]} exited {proc.returncode}: {lines}", file=sys.stderr)
    return wall, int(lines[-1]), proc.returncode


def bench_check(runs: int) -> None:
    port = free_port()
    server = start_server(port)
    try:
        address = f"127.0.0.1:{port}"
        # The frontend sometimes opens its port a moment before it is healthy.
        wait_for(lambda: subprocess.run([TEMPORAL, "operator", "cluster", "health", "--address", address],
                                        capture_output=True).returncode == 0)
        tools = {
            "temporal-supervisor check": [SUPERVISOR, "check", "--address", address, "--log-level", "error"],
            "temporal operator cluster health": [TEMPORAL, "operator", "cluster", "health", "--address", address],
            "Python SDK Client.connect (seed)": [PYTHON, str(ROOT / "bench" / "seed_check.py"), address],
        }
        for cmd in tools.values():  # warm-up: page cache, server connections
            assert measure(cmd)[2] == 0, f"{cmd} failed against a ready server"
        results = {name: [] for name in tools}
        for _ in range(runs):
            for name, cmd in tools.items():
                wall, rss, code = measure(cmd)
                assert code == 0, f"{name} exited {code}"
                results[name].append((wall, rss))
    finally:
        stop_server(server)

    base = statistics.median(w for w, _ in results["temporal operator cluster health"])
    print(f"\n### `check` against a ready server ({runs} runs each, interleaved)\n")
    print("| command | median wall | p90 wall | vs Temporal CLI | peak RSS |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        walls = sorted(w for w, _ in rows)
        median = statistics.median(walls)
        p90 = walls[int(0.9 * (len(walls) - 1))]
        rss = max(r for _, r in rows) / 1024
        print(f"| {name} | {median * 1000:.1f} ms | {p90 * 1000:.1f} ms | "
              f"{median / base:.2f}x | {rss:.1f} MiB |")


def lag_trial(delay: float, out: list) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    t0 = time.perf_counter()
    logs = {name: tempfile.TemporaryFile() for name in ("ours", "seed")}
    ours = subprocess.Popen([SUPERVISOR, "wait", "--address", address],
                            env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=logs["ours"])
    seed = subprocess.Popen([PYTHON, str(ROOT / "bench" / "seed_wait.py"), address],
                            env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=logs["seed"])
    exits = {}

    def reap(name, proc):
        proc.wait()
        exits[name] = (time.perf_counter(), proc.returncode)

    threads = [threading.Thread(target=reap, args=a) for a in (("ours", ours), ("seed", seed))]
    for t in threads:
        t.start()
    time.sleep(max(0.0, delay - (time.perf_counter() - t0)))
    server = start_server(port)
    try:
        while not port_open(port):
            time.sleep(0.002)
        opened = time.perf_counter()
        for t in threads:
            t.join(timeout=120)
    finally:
        stop_server(server)
        for proc in (ours, seed):
            if proc.poll() is None:
                proc.kill()
    for name, (_, code) in exits.items():
        if code != 0:
            logs[name].seek(0)
            tail = logs[name].read().decode(errors="replace")[-2000:]
            print(f"{name} exited {code} (server started at {delay:.1f} s):\n{tail}", file=sys.stderr)
    out.append({
        "delay": delay,
        "ours": exits["ours"][0] - opened if exits.get("ours", (0, 1))[1] == 0 else None,
        "seed": exits["seed"][0] - opened if exits.get("seed", (0, 1))[1] == 0 else None,
    })


def bench_lag(trials: int, parallel: int) -> None:
    rng = random.Random(int(os.environ.get("BENCH_SEED", "7")))
    delays = [rng.uniform(2, 30) for _ in range(trials)]
    results: list = []
    for i in range(0, trials, parallel):
        batch = [threading.Thread(target=lag_trial, args=(d, results)) for d in delays[i:i + parallel]]
        for t in batch:
            t.start()
        for t in batch:
            t.join()

    print(f"\n### Readiness lag: port open to exit, server started 2-30 s after the gate "
          f"({trials} trials, default settings)\n")
    print("| gate | median | mean | worst | failed |")
    print("|---|---|---|---|---|")
    for key, name in (("ours", "temporal-supervisor wait"),
                      ("seed", "seed wait script (Python SDK, attempts at 0, 1, 3, 7, 15, 31 s)")):
        lags = sorted(r[key] for r in results if r[key] is not None)
        failed = sum(1 for r in results if r[key] is None)
        if not lags:
            print(f"| {name} | - | - | - | {failed} |")
            continue
        print(f"| {name} | {statistics.median(lags):.3f} s | {statistics.mean(lags):.3f} s | "
              f"{lags[-1]:.3f} s | {failed} |")


def proc_status(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status (VmHWM: peak RSS, VmRSS: current RSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_script(log: Path) -> list[str]:
    """An idle worker that logs when it starts and when it is told to stop."""
    return ["sh", "-c", f"echo start $(date +%s.%N) >> {log}; "
            f"trap 'echo stop $(date +%s.%N) >> {log}; exit 0' TERM; sleep 100000 & wait $!"]


def events(log: Path, kind: str) -> list[float]:
    try:
        return [float(l.split()[1]) for l in log.read_text().splitlines() if l.startswith(kind)]
    except FileNotFoundError:
        return []


def wait_for(cond, limit: float = 120) -> None:
    deadline = time.time() + limit
    while not cond():
        if time.time() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(0.005)


def bench_supervise(idle: float) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = start_server(port)
    wait_for(lambda: port_open(port))
    tmp = Path(tempfile.mkdtemp(prefix="ts-bench-"))
    logs = {"ours": tmp / "ours.log", "seed": tmp / "seed.log"}
    procs = {
        "ours": subprocess.Popen([SUPERVISOR, "run", "--address", address,
                                  "--log-level", "warn", "--", *worker_script(logs["ours"])],
                                 env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "seed": subprocess.Popen([PYTHON, str(ROOT / "bench" / "seed_supervise.py"), address, "1",
                                  "--", *worker_script(logs["seed"])],
                                 env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    tini = shutil.which("tini")
    if tini:
        procs["tini"] = subprocess.Popen([tini, "-s", "--", "sleep", "100000"], env=CLEAN_ENV,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(events(log, "start") for log in logs.values()))
        time.sleep(3)
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        time.sleep(idle)
        cpu = {name: (cpu_seconds(p.pid) - cpu0[name]) / idle * 100 for name, p in procs.items()}
        hwm = {name: proc_status(p.pid, "VmHWM") / 1024 for name, p in procs.items()}
        rss = {name: proc_status(p.pid, "VmRSS") / 1024 for name, p in procs.items()}

        killed = time.time()
        stop_server(server)
        wait_for(lambda: all(events(log, "stop") for log in logs.values()))
        stopped = {name: events(log, "stop")[0] - killed for name, log in logs.items()}
        time.sleep(2)
        server = start_server(port)
        wait_for(lambda: port_open(port))
        opened = time.time()
        wait_for(lambda: all(len(events(log, "start")) >= 2 for log in logs.values()))
        started = {name: events(log, "start")[1] - opened for name, log in logs.items()}
    finally:
        stop_server(server)
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    names = {"ours": "temporal-supervisor run (defaults: health watch, keepalive, a request a minute; lost after 3 failed probes 1 s apart)",
             "seed": "Python SDK loop (seed approach; probe every 1 s, lost at the first failure)",
             "tini": "tini (no probing; the floor)"}
    print(f"\n### Supervising an idle worker ({idle:.0f} s idle)\n")
    print("| supervisor | CPU (% of a core) | peak RSS | RSS | server death to stop signal "
          "| server back to new worker |")
    print("|---|---|---|---|---|---|")
    for name in procs:
        death = f"{stopped[name]:.2f} s" if name in stopped else "-"
        back = f"{started[name]:.2f} s" if name in started else "-"
        print(f"| {names[name]} | {cpu[name]:.2f}% | {hwm[name]:.1f} MiB | {rss[name]:.1f} MiB "
              f"| {death} | {back} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each check command")
    parser.add_argument("--lag-trials", type=int, default=12, help="readiness-lag trials")
    parser.add_argument("--parallel", type=int, default=3, help="lag trials at once")
    parser.add_argument("--idle", type=float, default=30, help="seconds of idle supervision")
    args = parser.parse_args()
    size = os.path.getsize(SUPERVISOR) / (1024 * 1024)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; Python {platform.python_version()}; "
          f"release binary {size:.1f} MiB")
    bench_check(args.runs)
    if args.lag_trials:
        bench_lag(args.lag_trials, args.parallel)
    if args.idle:
        bench_supervise(args.idle)


if __name__ == "__main__":
    sys.exit(main())
