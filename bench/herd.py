"""A fleet on one server: N `run` supervisors in several configurations (and, with
--baseline-binary, an earlier release), one after the other in one run, on loopback.

    ./bench/herd.sh [--supervisors 200] [--idle 300] [--baseline REF]

For each configuration:
1. a dev server, and N supervisors, each with a worker that stands in for an SDK worker's
   start-up requests: `temporal-supervisor check` (GetSystemInfo, a health check,
   DescribeNamespace, as an SDK worker connects and validates its namespace), then `sleep`;
   wait until every worker runs;
2. idle for --idle seconds (the first configuration only): the frontend's own count of our
   requests (`service_requests` for GetSystemInfo, Check, Watch, DescribeNamespace,
   DescribeTaskQueue), per supervisor per second; CPU and RSS of each supervisor, from /proc;
3. the server is killed; once every supervisor has lost it (and, under
   `--on-disconnect restart`, stopped its worker), the server starts again on the same port:
   the time from the port opening until each supervisor was back (its worker started again,
   or, keeping its worker, ready again), the frontend's peak requests per second over any
   one second of the return (its own metric, all operations, scraped every quarter second),
   and supervisors that gave up or exited.

Prints Markdown tables.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import free_port, port_open  # noqa: E402

TEMPORAL = str(ROOT / ".venv" / "bin" / "temporal")
CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}
OUR_OPERATIONS = {"GetSystemInfo", "Check", "Watch", "DescribeNamespace", "DescribeTaskQueue"}
TICKS = os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self) -> None:
        self.port, self.http, self.metrics = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(self.http),
             "--metrics-port", str(self.metrics), "--log-level", "error"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def healthy(self) -> bool:
        return subprocess.run(
            [TEMPORAL, "operator", "cluster", "health", "--address", f"127.0.0.1:{self.port}"],
            capture_output=True,
        ).returncode == 0

    def kill(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None

    def our_requests(self, operations: set[str] | None = OUR_OPERATIONS) -> int:
        """The frontend's count of the operations supervisors make (`None`: every
        operation), in every namespace but the server's own."""
        try:
            text = urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics}/metrics", timeout=2).read().decode()
        except OSError:
            return 0
        total = 0.0
        for line in text.splitlines():
            if not line.startswith("service_requests{") or 'service_name="frontend"' not in line:
                continue
            if 'namespace="temporal_system"' in line:
                continue
            operation = line.split('operation="', 1)[1].split('"', 1)[0]
            if operations is None or operation in operations:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


def wait_until(what: str, limit: float, cond) -> None:
    start = time.time()
    while not cond():
        if time.time() - start > limit:
            raise SystemExit(f"herd: timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.1)


class Supervisor:
    def __init__(self, binary: str, extra: list[str], address: str, log: Path) -> None:
        self.log = log
        # The worker's start-up requests, as an SDK worker makes them, then an idle worker.
        worker = f'"$0" check --address {address} --log-level error >/dev/null 2>&1; exec sleep 1000000'
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [binary, "run", "--address", address, "--max-retries", "0",
                 "--log-format", "json", *extra, "--", "sh", "-c", worker, binary],
                env=CLEAN_ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )

    def lines(self, message: str) -> list[dict]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if f'"message":"{message}' in line:
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return found

    def count(self, message: str) -> int:
        return len(self.lines(message))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def log_time(entry: dict) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def herd(binary: str, extra: list[str], restarts: bool, n: int, idle: float, work: Path) -> dict:
    """One configuration; `restarts` when its supervisors stop their workers on a loss."""
    server = Server()
    server.start()
    wait_until("the dev server", 120, server.healthy)
    address = f"127.0.0.1:{server.port}"
    sups = [Supervisor(binary, extra, address, work / f"supervisor-{i}.log") for i in range(n)]
    try:
        wait_until("every worker to start", 300,
                   lambda: all(s.count("worker started") >= 1 for s in sups))
        time.sleep(5)  # let start-up settle before measuring idle

        result = {}
        if idle > 0:
            before = server.our_requests()
            cpu_before = [s.cpu_seconds() for s in sups]
            started = time.time()
            rss = []
            while time.time() - started < idle:
                time.sleep(min(10, idle - (time.time() - started)) or 0.1)
                rss.append(statistics.mean(s.rss_kib() for s in sups))
            elapsed = time.time() - started
            time.sleep(1.5)  # the server's metrics lag about a second
            sent = server.our_requests() - before
            cpu = [(s.cpu_seconds() - c) / elapsed * 100 for s, c in zip(sups, cpu_before)]
            result = {
                "requests_per_s": sent / elapsed / n,
                "herd_requests_per_s": sent / elapsed,
                "cpu_pct": statistics.mean(cpu),
                "rss_mib": statistics.mean(rss) / 1024,
            }

        server.kill()
        killed = time.time()
        gone = "worker stopped" if restarts else "Temporal lost"
        wait_until(f"every supervisor to log '{gone}'", 600,
                   lambda: all(s.count(gone) >= 1 for s in sups))
        all_stopped = time.time() - killed
        time.sleep(2)

        server.start()
        while not port_open(server.port):
            time.sleep(0.005)
        opened = time.time()
        counts: list[tuple[float, int]] = []
        scraping = True

        def scrape() -> None:
            while scraping:
                counts.append((time.time(), server.our_requests(None)))
                time.sleep(0.25)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        # Back: a new worker under restart; ready again (watching Temporal) when kept.
        back_line, back_count = ("worker started", 2) if restarts else ("Temporal is back", 1)
        try:
            wait_until("every supervisor to be back", 600,
                       lambda: all(s.count(back_line) >= back_count for s in sups))
            time.sleep(3)
        finally:
            scraping = False
            scraper.join()
        back = [log_time(s.lines(back_line)[back_count - 1]) - opened for s in sups]
        peak = 0.0
        for i, (t, c) in enumerate(counts):
            for t2, c2 in counts[i + 1:]:
                if t2 - t >= 1.0:
                    peak = max(peak, (c2 - c) / (t2 - t))
                    break
        lost = sum(1 for s in sups if s.process.poll() is not None)
        return {
            **result,
            "stopped_s": all_stopped,
            "back_median_s": statistics.median(back),
            "back_max_s": max(back),
            "peak_rps": peak,
            "lost": lost,
        }
    finally:
        for s in sups:
            s.stop()
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--supervisors", type=int, default=200)
    parser.add_argument("--idle", type=float, default=300)
    parser.add_argument("--baseline-binary", help="an earlier release (restarts on a loss)")
    parser.add_argument("--baseline-name", default="baseline")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "temporal-supervisor"))
    args = parser.parse_args()

    # (name, binary, extra arguments, stops its workers on a loss, measures idle)
    configurations = [
        ("defaults (--on-disconnect keep)", args.binary, [], False, True),
        ("--on-disconnect restart --restart-spread 0", args.binary,
         ["--on-disconnect", "restart", "--restart-spread", "0"], True, False),
        ("--on-disconnect restart (--restart-spread 2s)", args.binary,
         ["--on-disconnect", "restart"], True, False),
    ]
    if args.baseline_binary:
        configurations.insert(0, (args.baseline_name, args.baseline_binary, [], True, True))
    results = {}
    for name, binary, extra, restarts, idle in configurations:
        with tempfile.TemporaryDirectory(prefix="ts-herd-") as work:
            print(f"herd: {args.supervisors} supervisors, {name} ...", file=sys.stderr)
            results[name] = herd(binary, extra, restarts, args.supervisors,
                                 args.idle if idle else 0, Path(work))

    n = args.supervisors
    print(f"\n#### {n} supervisors, one dev server (idle {args.idle:.0f} s)\n")
    print("| supervisor | requests/s each, idle | requests/s, whole herd | CPU each | RSS each |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        if "requests_per_s" in r:
            print(f"| {name} | {r['requests_per_s']:.4f} | {r['herd_requests_per_s']:.1f} "
                  f"| {r['cpu_pct']:.2f}% | {r['rss_mib']:.1f} MiB |")
    print(f"\n#### The server killed and started again on the same port\n")
    print("| supervisor | every supervisor lost it (restart: stopped its worker) "
          "| back after the port opened: median | max | frontend peak requests/s on return "
          "| supervisors lost |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['stopped_s']:.1f} s | {r['back_median_s']:.2f} s "
              f"| {r['back_max_s']:.2f} s | {r['peak_rps']:.0f} | {r['lost']} |")


if __name__ == "__main__":
    main()
