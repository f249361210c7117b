"""What the local endpoint costs, side by side with a worker connected directly, in one run on
loopback.

    ./bench/endpoint.sh [--seconds 90] [--warm-up 10] [--concurrency 10] [--sequential 100]
                        [--rpcs 2000] [--connections 200] [--big-runs 3]

One dev server. Two `run --task-queue` supervisors, each with the same Python SDK worker
(bench/endpoint_worker.py) on a queue of its own: one connected directly (`--endpoint=false`),
one through its local endpoint (the default). Then a `watch --endpoint-listen` sidecar.
1. Payloads: the workflow `Big` (four activities at once, each returning 1.5 MiB of random
   bytes: four 1.5 MiB RespondActivityTaskCompleted requests in flight, then 6 MiB of results
   back in the workflow task that follows), then a query on the closed workflow (Temporal hands
   the worker the whole 6 MiB history in one poll response); --big-runs times for each
   supervisor, alternating; each supervisor's RSS before and after, its highest RSS during
   the workflows and during the queries (sampled every 2 ms), and its VmHWM at the end.
2. Short workflows per second: the workflow `Short` (one activity that returns at once) on
   both queues at once, --concurrency at a time on each, from a client connected to the server
   directly (both under the same conditions at every moment, whatever else the machine runs);
   the workflows that ended in --seconds after --warm-up, and in each third of that window;
   the supervisor's and the worker's CPU per workflow (/proc). Then --sequential workflows
   one at a time, alternating, for the latency of one workflow.
3. The memory per worker connection: the sidecar's RSS and its sockets with 0, 1, 10, 50, 100
   and --connections Python SDK clients (a client is one HTTP/2 connection; each made its
   GetSystemInfo at connect) connected to its endpoint.
4. The latency the endpoint adds to one RPC: a Python SDK client connected to the server and
   one connected to the sidecar's endpoint make --rpcs calls of each kind, one at a time,
   alternating (which of the two goes first alternates too): each call's time from the SDK's
   call to its answer, p50 and p99. GetSystemInfo and DescribeNamespace pass the endpoint
   untouched; RespondActivityTaskCompleted with an unknown task token (Temporal answers
   InvalidArgument) is one the endpoint reads (its request whole, for the token), with an
   empty result and with a 1.5 MiB one (--rpcs / 10 calls).

Prints Markdown tables.
"""
import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    RespondActivityTaskCompletedRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import cpu_seconds, free_port, port_open, proc_status  # noqa: E402
from rollout import descendants  # noqa: E402

TEMPORAL = str(ROOT / ".venv" / "bin" / "temporal")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SUPERVISOR = str(ROOT / "target" / "release" / "temporal-supervisor")
WORKER = str(ROOT / "bench" / "endpoint_worker.py")
CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}
MIB = 1 << 20
BLOB = 3 * MIB // 2
STEPS = [1, 10, 50, 100]


def wait_until(what: str, limit: float, cond, every: float = 0.1) -> None:
    start = time.time()
    while not cond():
        if time.time() - start > limit:
            raise SystemExit(f"endpoint: timed out after {limit:.0f} s waiting for {what}")
        time.sleep(every)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


class Process:
    """A process of ours, with its log; stopped with SIGTERM, then SIGKILL for its tree."""

    def __init__(self, command: list[str], log: Path, env: dict | None = None) -> None:
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, env=env or CLEAN_ENV,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                            start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def said(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def stop(self, gently: bool = True) -> None:
        tree = descendants(self.pid)
        if gently and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()


class Supervised(Process):
    """`run --task-queue QUEUE` with the benchmark's worker."""

    def __init__(self, name: str, extra: list[str], address: str, work: Path) -> None:
        self.name = name
        self.queue = f"cost-{name}"
        super().__init__([SUPERVISOR, "run", "--address", address, "--task-queue", self.queue,
                          "--max-retries", "0", *extra, "--", PYTHON, WORKER, self.queue],
                         work / f"{name}.log")

    def worker_pid(self) -> int:
        tree = descendants(self.pid)
        assert len(tree) >= 2, f"{self.name}: no worker process"
        return tree[1]

    def rss(self) -> tuple[float, float]:
        """RSS and peak RSS, in MiB."""
        return proc_status(self.pid, "VmRSS") / 1024, proc_status(self.pid, "VmHWM") / 1024


class PeakRss:
    """The highest RSS of a process while the block runs (MiB), sampled every 2 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = proc_status(pid, "VmRSS") / 1024
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS") / 1024)
            if self._done.wait(0.002):
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._done.set()
        self._thread.join()


def workflow_id(*parts) -> str:
    return "-".join(str(p) for p in parts)


async def payloads(client: Client, supervisors: list[Supervised], runs: int) -> list[dict]:
    rows = {s.name: {"name": s.name, "before": s.rss(), "workflow": [], "query": [],
                     "workflow_peak": 0.0, "query_peak": 0.0, "workflow_rise": 0.0,
                     "query_rise": 0.0} for s in supervisors}
    for i in range(runs):
        for s in supervisors:
            row = rows[s.name]
            handle_id = workflow_id("big", s.name, i)
            started = time.perf_counter()
            with PeakRss(s.pid) as peak:
                total = await client.execute_workflow("Big", args=[4, BLOB], id=handle_id,
                                                      task_queue=s.queue)
            row["workflow"].append(time.perf_counter() - started)
            row["workflow_peak"] = max(row["workflow_peak"], peak.peak)
            row["workflow_rise"] = max(row["workflow_rise"], peak.peak - peak.start)
            assert total == 4 * BLOB, total
            started = time.perf_counter()
            with PeakRss(s.pid) as peak:
                answered = await client.get_workflow_handle(handle_id).query("received_bytes")
            row["query"].append(time.perf_counter() - started)
            row["query_peak"] = max(row["query_peak"], peak.peak)
            row["query_rise"] = max(row["query_rise"], peak.peak - peak.start)
            assert answered == 4 * BLOB, answered
    for s in supervisors:
        rows[s.name]["after"] = s.rss()
    return list(rows.values())


async def load(client: Client, s: Supervised, concurrency: int, stop: asyncio.Event,
               done: list[float]) -> None:
    """Short workflows on `s`'s queue, `concurrency` at a time, until `stop`; each one's end
    goes into `done`."""
    async def one_after_another(k: int) -> None:
        i = 0
        while not stop.is_set():
            assert await client.execute_workflow("Short", i, id=workflow_id("short", s.name, k, i),
                                                 task_queue=s.queue) == i
            done.append(time.perf_counter())
            i += 1
    await asyncio.gather(*(one_after_another(k) for k in range(concurrency)))


async def throughput(client: Client, supervisors: list[Supervised], args) -> list[dict]:
    stop = asyncio.Event()
    done: dict[str, list[float]] = {s.name: [] for s in supervisors}
    loads = [asyncio.create_task(load(client, s, args.concurrency, stop, done[s.name]))
             for s in supervisors]
    await asyncio.sleep(args.warm_up)
    start = time.perf_counter()
    cpu = {s.name: (cpu_seconds(s.pid), cpu_seconds(s.worker_pid())) for s in supervisors}
    await asyncio.sleep(args.seconds)
    end = time.perf_counter()
    cpu = {s.name: (cpu_seconds(s.pid) - cpu[s.name][0],
                    cpu_seconds(s.worker_pid()) - cpu[s.name][1]) for s in supervisors}
    stop.set()
    await asyncio.gather(*loads)
    rows = {}
    third = (end - start) / 3
    for s in supervisors:
        ends = [t for t in done[s.name] if start <= t < end]
        thirds = [sum(1 for t in ends if start + k * third <= t < start + (k + 1) * third) / third
                  for k in range(3)]
        rows[s.name] = {"name": s.name, "workflows": len(ends), "rate": len(ends) / (end - start),
                        "thirds": thirds, "cpu": cpu[s.name][0], "worker_cpu": cpu[s.name][1],
                        "latency": []}
    for i in range(args.sequential):
        for s in (supervisors if i % 2 == 0 else supervisors[::-1]):
            started = time.perf_counter()
            await client.execute_workflow("Short", i, id=workflow_id("one", s.name, i),
                                          task_queue=s.queue)
            rows[s.name]["latency"].append(time.perf_counter() - started)
    return list(rows.values())


def connection_memory(watch: Process, endpoint: str, most: int, work: Path) -> list[dict]:
    time.sleep(1)
    rows = [{"connections": 0, "rss": proc_status(watch.pid, "VmRSS") / 1024,
             "sockets": sockets(watch.pid)}]
    with open(work / "holder.log", "w") as log:
        holder = subprocess.Popen([PYTHON, __file__, "--hold", endpoint], env=CLEAN_ENV,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                  text=True)
    try:
        for n in [s for s in STEPS if s < most] + [most]:
            holder.stdin.write(f"{n}\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == str(n), "the holder did not connect"
            time.sleep(1)
            rows.append({"connections": n, "rss": proc_status(watch.pid, "VmRSS") / 1024,
                         "sockets": sockets(watch.pid)})
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    return rows


async def hold(endpoint: str) -> None:
    """The holder: connects clients to `endpoint` up to each count read, says the count."""
    clients = []
    for line in sys.stdin:
        while len(clients) < int(line):
            clients.append(await Client.connect(endpoint))
        print(len(clients), flush=True)


def answer(size: int):
    result = Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"},
                                        data=os.urandom(size))]) if size else None
    request = RespondActivityTaskCompletedRequest(namespace="default", task_token=b"no task",
                                                  identity="bench", result=result)

    async def call(client: Client) -> None:
        try:
            await client.workflow_service.respond_activity_task_completed(request)
        except RPCError:
            pass
    return call


KINDS = [
    ("GetSystemInfo (passes untouched)", 1,
     lambda c: c.workflow_service.get_system_info(GetSystemInfoRequest())),
    ("DescribeNamespace (passes untouched)", 1,
     lambda c: c.workflow_service.describe_namespace(
         DescribeNamespaceRequest(namespace="default"))),
    ("RespondActivityTaskCompleted, unknown token, no result (read by the endpoint)", 1,
     answer(0)),
    ("RespondActivityTaskCompleted, unknown token, 1.5 MiB result (read whole by the endpoint)",
     10, answer(BLOB)),
]


async def rpc_latency(direct: Client, via: Client, rpcs: int) -> list[dict]:
    rows = []
    for name, fewer, call in KINDS:
        n = max(10, rpcs // fewer)
        times: dict[str, list[float]] = {"direct": [], "endpoint": []}
        for _ in range(min(100, n)):  # warm-up
            await call(direct)
            await call(via)
        for i in range(n):
            pair = [("direct", direct), ("endpoint", via)]
            for path, client in (pair if i % 2 == 0 else pair[::-1]):
                started = time.perf_counter_ns()
                await call(client)
                times[path].append((time.perf_counter_ns() - started) / 1e6)
        rows.append({"name": name, "n": n, **{
            path: (percentile(t, 50), percentile(t, 99)) for path, t in times.items()}})
    return rows


async def measure(args, work: Path) -> dict:
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--http-port", str(free_port()),
         "--metrics-port", str(free_port()), "--log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    processes: list[Process] = []
    try:
        wait_until("the dev server", 120, lambda: port_open(port))
        wait_until("the dev server", 120, lambda: subprocess.run(
            [TEMPORAL, "operator", "cluster", "health", "--address", address],
            capture_output=True).returncode == 0)
        supervisors = [Supervised("direct", ["--endpoint=false"], address, work),
                       Supervised("endpoint", [], address, work)]
        processes += supervisors
        for s in supervisors:
            wait_until(f"the {s.name} worker to poll", 120, lambda: s.said("worker is polling"))
        time.sleep(2)
        client = await Client.connect(address)
        print("endpoint: payloads ...", file=sys.stderr)
        big = await payloads(client, supervisors, args.big_runs)
        print("endpoint: short workflows ...", file=sys.stderr)
        short = await throughput(client, supervisors, args)
        for s in supervisors:
            s.stop()

        listen = f"127.0.0.1:{free_port()}"
        watch = Process([SUPERVISOR, "watch", "--address", address, "--endpoint-listen", listen,
                         "--health-listen", f"127.0.0.1:{free_port()}", "--task-queue", "idle"],
                        work / "watch.log")
        processes.append(watch)
        wait_until("the sidecar's endpoint", 60, lambda: port_open(int(listen.rsplit(":")[1])))
        wait_until("the sidecar to find Temporal ready", 60,
                   lambda: watch.said("Temporal is ready"))
        print("endpoint: connections ...", file=sys.stderr)
        memory = connection_memory(watch, listen, args.connections, work)
        print("endpoint: RPC latency ...", file=sys.stderr)
        direct, via = await Client.connect(address), await Client.connect(listen)
        latency = await rpc_latency(direct, via, args.rpcs)
        # Its drain would wait for these clients to go: nothing of it is measured.
        watch.stop(gently=False)
        return {"big": big, "short": short, "memory": memory, "latency": latency}
    finally:
        for p in processes:
            p.stop()
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()


def report(r: dict, args) -> None:
    direct, endpoint = r["short"]
    print(f"\n#### Short workflows (one activity each) on both queues at once, "
          f"{args.concurrency} at a time on each, counted over {args.seconds:g} s after "
          f"{args.warm_up:g} s; then {args.sequential} one at a time, alternating\n")
    print("| worker | workflows/s | in each third of the window | vs direct "
          "| supervisor CPU per workflow | worker CPU per workflow | one at a time: p50 | p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in (direct, endpoint):
        thirds = ", ".join(f"{x:.1f}" for x in row["thirds"])
        print(f"| {row['name']} | {row['rate']:.1f} | {thirds} "
              f"| {row['rate'] / direct['rate']:.3f}x "
              f"| {row['cpu'] / row['workflows'] * 1000:.3f} ms "
              f"| {row['worker_cpu'] / row['workflows'] * 1000:.2f} ms "
              f"| {percentile(row['latency'], 50) * 1000:.1f} ms "
              f"| {percentile(row['latency'], 99) * 1000:.1f} ms |")

    print(f"\n#### One RPC, one at a time, alternating ({args.rpcs} calls each, the 1.5 MiB "
          "kind a tenth)\n")
    print("| RPC | direct p50 | through the endpoint p50 | added p50 | direct p99 "
          "| through the endpoint p99 | added p99 |")
    print("|---|---|---|---|---|---|---|")
    for row in r["latency"]:
        (d50, d99), (e50, e99) = row["direct"], row["endpoint"]
        print(f"| {row['name']} | {d50:.3f} ms | {e50:.3f} ms | {e50 - d50:+.3f} ms "
              f"| {d99:.3f} ms | {e99:.3f} ms | {e99 - d99:+.3f} ms |")

    print("\n#### The sidecar's memory with Python SDK clients connected to its endpoint\n")
    print("| clients connected | sidecar sockets | RSS | RSS over none | per connection |")
    print("|---|---|---|---|---|")
    base = r["memory"][0]
    for row in r["memory"]:
        n = row["connections"]
        more = row["rss"] - base["rss"]
        each = f"{more * 1024 / n:.1f} KiB" if n else "-"
        print(f"| {n} | {row['sockets']} | {row['rss']:.1f} MiB | {more:+.1f} MiB | {each} |")

    print("\n#### Payloads: `Big` (four activities at once returning 1.5 MiB each) and a query "
          f"of its 6 MiB history, {args.big_runs} times each\n")
    print("| supervisor | RSS before | highest RSS during a workflow (most above its start) "
          "| during a query (most above its start) "
          "| peak RSS (VmHWM) after | RSS after | workflow p50 | query p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in r["big"]:
        (rss0, _), (rss1, hwm1) = row["before"], row["after"]
        print(f"| {row['name']} | {rss0:.1f} MiB "
              f"| {row['workflow_peak']:.1f} MiB ({row['workflow_rise']:+.1f}) "
              f"| {row['query_peak']:.1f} MiB ({row['query_rise']:+.1f}) "
              f"| {hwm1:.1f} MiB | {rss1:.1f} MiB "
              f"| {statistics.median(row['workflow']):.2f} s "
              f"| {statistics.median(row['query']):.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0,
                        help="seconds over which short workflows are counted")
    parser.add_argument("--warm-up", type=float, default=10.0,
                        help="seconds of load before the count")
    parser.add_argument("--concurrency", type=int, default=10, help="workflows at once, each")
    parser.add_argument("--sequential", type=int, default=100,
                        help="workflows one at a time, each configuration")
    parser.add_argument("--rpcs", type=int, default=2000, help="calls of each RPC, each path")
    parser.add_argument("--connections", type=int, default=200,
                        help="clients connected at most (the endpoint takes 256)")
    parser.add_argument("--big-runs", type=int, default=3)
    parser.add_argument("--hold", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        asyncio.run(hold(args.hold))
        return
    size = os.path.getsize(SUPERVISOR) / MIB
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ts-endpoint-") as work:
        results = asyncio.run(measure(args, Path(work)))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; Python {platform.python_version()}; release binary "
          f"{size:.1f} MiB; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    report(results, args)


if __name__ == "__main__":
    main()
