"""The health endpoint under a flood of idle and slow connections, this build side by side with
a baseline build, in one run on loopback.

    ./bench/flood.sh [--connections 10000] [--slow 1000] [--seconds 20] [--baseline REF]

For each binary: a dev server, `run --health-listen` with an idle worker; then
1. probes with no flood: `wrk` (new connection per request, as the kubelet does) for p50/p99
   latency, and kubelet-like probes (a new connection, GET /readyz, 1 s timeout) counted
   answered within 1 s;
2. the same under a flood (`flood.py flood`, a separate process): --connections held open to
   the port and re-opened as soon as they are closed, --slow of them sending a request one
   byte a second and never finishing, a tenth of the rest half a request, the others nothing;
   the supervisor's descriptors and RSS during the flood;
3. the flood stopped: descriptors back, and the worker untouched (same pid, never restarted).

Prints Markdown tables.
"""
import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import free_port, port_open, proc_status, start_server, stop_server, wait_for  # noqa: E402

CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}
HALF_REQUEST = b"GET /readyz HTTP/1.1\r\nHost: flood\r\n"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the flooder -----------------------------------------------------------------------------

async def hold(port: int, index: int, kind: str, opened: list, stop: asyncio.Event) -> None:
    """One flooding connection, opened again whenever it is closed."""
    # Many loopback source addresses, so that re-opened connections never run out of ports.
    source = f"127.0.{1 + index // 250 % 250}.{2 + index % 250}"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened[0] += 1
        try:
            if kind == "half":
                writer.write(HALF_REQUEST)
            elif kind == "slow":
                for byte in HALF_REQUEST * 100:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(1)
            # Idle, or done sending: hold the connection until the server closes it.
            await reader.read(65536)
        except OSError:
            pass
        finally:
            writer.close()


async def flood(port: int, connections: int, slow: int) -> None:
    raise_fd_limit()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    opened = [0]
    kinds = ["slow"] * slow + ["half" if i % 10 == 0 else "idle" for i in range(connections - slow)]
    tasks = []
    for index, kind in enumerate(kinds):
        tasks.append(asyncio.create_task(hold(port, index, kind, opened, stop)))
        if index % 200 == 199:
            await asyncio.sleep(0.01)
    print(f"flooding with {connections} connections", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()


# --- the measurements ------------------------------------------------------------------------

def kubelet_probes(port: int, count: int, interval: float = 0.1) -> tuple[int, list[float]]:
    """Probes as the kubelet makes them: a new connection, GET /readyz, 1 s timeout.
    Returns how many were answered within 1 s, and every latency (infinite when not)."""
    answered, latencies = 0, []
    for _ in range(count):
        start = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(max(0.001, 1 - (time.perf_counter() - start)))
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                response = b""
                while chunk := s.recv(65536):
                    response += chunk
            took = time.perf_counter() - start
            if response.startswith(b"HTTP/1.1 200") and took <= 1:
                answered += 1
                latencies.append(took)
            else:
                latencies.append(float("inf"))
        except OSError:
            latencies.append(float("inf"))
        time.sleep(interval)
    return answered, latencies


def wrk(port: int, seconds: int) -> dict:
    """wrk's latency percentiles for /readyz, one request per connection."""
    out = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "--timeout", "5s", "--latency",
         "-H", "Connection: close", f"http://127.0.0.1:{port}/readyz"],
        capture_output=True, text=True).stdout

    requests = re.search(r"^\s*(\d+) requests in", out, re.M)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)

    def ms(label: str) -> str:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m or not requests or int(requests.group(1)) == 0:
            return "-"
        value = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        return f"{value:.2f} ms"

    return {"p50": ms("50%"), "p99": ms("99%"),
            "requests": int(requests.group(1)) if requests else 0,
            "errors": sum(int(g) for g in errors.groups()) if errors else 0}


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values: list[float], p: float) -> str:
    value = sorted(values)[min(len(values) - 1, int(p * len(values)))]
    return "over 1 s" if value == float("inf") else f"{value * 1000:.2f} ms"


def measure(name: str, binary: str, args: argparse.Namespace) -> dict:
    port, health = free_port(), free_port()
    server = start_server(port)
    tmp = Path(tempfile.mkdtemp(prefix="ts-flood-"))
    log = tmp / "worker.log"
    supervisor = subprocess.Popen(
        [binary, "run", "--address", f"127.0.0.1:{port}", "--health-listen", f"127.0.0.1:{health}",
         "--max-retries", "0", "--log-level", "error", "--",
         "sh", "-c", f"echo $$ >> {log}; trap 'exit 0' TERM; sleep 100000 & wait $!"],
        env=CLEAN_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    flooder = None
    try:
        wait_for(lambda: port_open(health))
        wait_for(lambda: kubelet_probes(health, 1, 0)[0] == 1)
        worker = log.read_text().split()
        row = {"name": name}
        row["quiet"] = wrk(health, args.wrk_seconds)
        row["quiet_probes"] = kubelet_probes(health, args.probes)
        row["fds_quiet"], row["rss_quiet"] = fds(supervisor.pid), proc_status(supervisor.pid, "VmRSS")

        flooder = subprocess.Popen(
            [sys.executable, __file__, "flood", "--port", str(health),
             "--connections", str(args.connections), "--slow", str(args.slow)],
            stdout=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit)
        flooder.stdout.readline()
        time.sleep(args.warmup)
        row["flood"] = wrk(health, args.wrk_seconds)
        row["flood_probes"] = kubelet_probes(health, args.probes)
        row["fds_flood"] = fds(supervisor.pid)
        row["rss_flood"] = proc_status(supervisor.pid, "VmRSS")
        row["hwm"] = proc_status(supervisor.pid, "VmHWM")
        flooder.send_signal(signal.SIGTERM)
        flooder.wait(timeout=60)
        flooder = None
        deadline = time.time() + 30
        while fds(supervisor.pid) > row["fds_quiet"] and time.time() < deadline:
            time.sleep(0.2)
        row["fds_after"] = fds(supervisor.pid)
        row["worker_untouched"] = log.read_text().split() == worker
        return row
    finally:
        if flooder is not None:
            flooder.kill()
        supervisor.terminate()
        try:
            supervisor.wait(timeout=30)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace) -> None:
    raise_fd_limit()
    rows = []
    if args.baseline_binary:
        rows.append(measure(args.baseline_name, args.baseline_binary, args))
    rows.append(measure("this release", args.binary, args))
    print(f"\n### The health endpoint under a flood ({args.connections} connections, "
          f"{args.slow} of them slow; wrk {args.wrk_seconds} s, {args.probes} kubelet-like probes "
          f"each)\n")
    print("| supervisor | flood | wrk p50 | wrk p99 | wrk requests | wrk errors "
          "| probes answered within 1 s | probe p50 | probe p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for key, label in (("quiet", "none"), ("flood", "idle and slow")):
            w = row[key]
            answered, latencies = row[f"{key}_probes"]
            print(f"| {row['name']} | {label} | {w['p50']} | {w['p99']} | {w['requests']} "
                  f"| {w['errors']} | {answered}/{len(latencies)} "
                  f"| {percentile(latencies, 0.5)} | {percentile(latencies, 0.99)} |")
    print("\n| supervisor | descriptors: quiet | under the flood | after | RSS: quiet "
          "| under the flood | peak | worker untouched |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['name']} | {row['fds_quiet']} | {row['fds_flood']} | {row['fds_after']} "
              f"| {row['rss_quiet'] / 1024:.1f} MiB | {row['rss_flood'] / 1024:.1f} MiB "
              f"| {row['hwm'] / 1024:.1f} MiB | {'yes' if row['worker_untouched'] else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("flood", help="hold connections to a port until SIGTERM")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--connections", type=int, default=10000)
    f.add_argument("--slow", type=int, default=1000)
    b = sub.add_parser("bench", help="measure a build (and a baseline) with and without a flood")
    b.add_argument("--binary", default=str(ROOT / "target" / "release" / "temporal-supervisor"))
    b.add_argument("--baseline-binary")
    b.add_argument("--baseline-name", default="baseline")
    b.add_argument("--connections", type=int, default=10000)
    b.add_argument("--slow", type=int, default=1000)
    b.add_argument("--wrk-seconds", type=int, default=10)
    b.add_argument("--probes", type=int, default=100)
    b.add_argument("--warmup", type=float, default=5, help="seconds of flood before measuring")
    args = parser.parse_args()
    if args.command == "flood":
        asyncio.run(flood(args.port, args.connections, args.slow))
    else:
        bench(args)


if __name__ == "__main__":
    sys.exit(main())
