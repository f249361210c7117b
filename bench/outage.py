"""What a Temporal outage costs the work in flight: a Python SDK worker run bare (the SDK
alone), under `run` at its defaults (`--on-disconnect keep`) and under
`run --on-disconnect restart`, side by side in one run, on loopback.

    ./bench/outage.sh [--outages 3,30,120] [--activity 8] [--workflows 5]

For each outage length and each way of running the worker:
1. a dev server keeping its state in a database file (as a real cluster keeps it in its
   database), and the worker of tests/workers/slow_activities.py on its own task queue;
2. once it polls, five workflows start, each running one 8 s activity (start-to-close
   timeout 60 s, the SDK's default retry policy); once all five activities are executing, the
   server is killed, and started again on the same database after the outage;
3. measured: the time from the first workflow's start to the last one's close (the server's
   own timestamps), activity executions (the worker writes one line per execution), worker
   processes started, and the time from the server's port opening again to a poll of the
   queue newer than that moment (DescribeTaskQueue, every 0.2 s).

Prints a Markdown table.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import free_port, port_open  # noqa: E402

TEMPORAL = str(ROOT / ".venv" / "bin" / "temporal")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SUPERVISOR = str(ROOT / "target" / "release" / "temporal-supervisor")
WORKER = str(ROOT / "tests" / "workers" / "slow_activities.py")
CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}
QUEUE = "slow"

WAYS = {
    "bare SDK worker": None,
    "run (defaults: --on-disconnect keep)": [],
    "run --on-disconnect restart": ["--on-disconnect", "restart"],
}


def wait_until(what: str, limit: float, cond, every: float = 0.1) -> None:
    start = time.time()
    while not cond():
        if time.time() - start > limit:
            raise SystemExit(f"outage: timed out after {limit:.0f} s waiting for {what}")
        time.sleep(every)


def parse_time(text: str) -> float:
    # RFC 3339 with nanoseconds, which datetime does not take: cut to microseconds.
    text = text.replace("Z", "+00:00")
    head, _, tail = text.partition(".")
    if tail:
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text).timestamp()


class Server:
    def __init__(self, db: Path) -> None:
        self.port, self.http, self.metrics = free_port(), free_port(), free_port()
        self.db = db
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(self.http),
             "--metrics-port", str(self.metrics), "--log-level", "error",
             "--db-filename", str(self.db)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TEMPORAL, *args, "--address", self.address],
                              capture_output=True, text=True)

    def healthy(self) -> bool:
        return self.cli("operator", "cluster", "health").returncode == 0

    def kill(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None

    def newest_poll(self) -> float:
        """The newest last access of any poller of the queue (0 when none, or no answer)."""
        out = self.cli("task-queue", "describe", "--task-queue", QUEUE, "-o", "json")
        if out.returncode != 0:
            return 0.0
        pollers = json.loads(out.stdout).get("pollers") or []
        times = [parse_time(p["lastAccessTime"]) for p in pollers if p.get("lastAccessTime")]
        return max(times, default=0.0)

    def workflow(self, workflow_id: str) -> dict:
        out = self.cli("workflow", "describe", "--workflow-id", workflow_id, "-o", "json")
        if out.returncode != 0:
            return {}
        return json.loads(out.stdout).get("workflowExecutionInfo", {})


def trial(way: str, extra: list[str] | None, outage: float, activity: float, n: int,
          work: Path) -> dict:
    server = Server(work / "temporal.db")
    server.start()
    wait_until("the dev server", 120, server.healthy)
    executions = work / "executions"
    log = work / "supervisor.log"
    worker = [PYTHON, WORKER, QUEUE, str(executions)]
    env = dict(CLEAN_ENV)
    if extra is None:
        env["TEMPORAL_ADDRESS"] = server.address
        cmd = worker
    else:
        cmd = [SUPERVISOR, "run", "--address", server.address, "--task-queue", QUEUE,
               *extra, "--", *worker]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=out, start_new_session=True)
    try:
        wait_until("the worker to poll", 120, lambda: server.newest_poll() > 0, every=0.5)
        ids = [f"outage-{i}" for i in range(n)]
        for workflow_id in ids:
            started = server.cli("workflow", "start", "--task-queue", QUEUE, "--type",
                                 "SlowWork", "--workflow-id", workflow_id,
                                 "--input", str(activity))
            assert started.returncode == 0, started.stderr

        def starts() -> list[str]:
            text = executions.read_text() if executions.exists() else ""
            return [line for line in text.splitlines() if line.startswith("start ")]

        wait_until("every activity to be executing", 60, lambda: len(starts()) >= n)
        server.kill()
        time.sleep(outage)
        server.start()
        wait_until("the port to open", 60, lambda: port_open(server.port), every=0.005)
        opened = time.time()
        wait_until("a poll after the return", 300, lambda: server.newest_poll() > opened,
                   every=0.2)
        polling_again = time.time() - opened
        infos: list[dict] = []

        def all_closed() -> bool:
            infos[:] = [server.workflow(workflow_id) for workflow_id in ids]
            return all(i.get("closeTime") for i in infos)

        wait_until("every workflow to close", 600, all_closed, every=0.5)
        first = min(parse_time(i["startTime"]) for i in infos)
        last = max(parse_time(i["closeTime"]) for i in infos)
        completed = sum(1 for i in infos if i.get("status", "").endswith("COMPLETED"))
        log_text = log.read_text(errors="replace")
        worker_starts = 1 if extra is None else log_text.count("worker started")
        return {
            "all_done_s": last - first,
            "executions": len(starts()),
            "completed": completed,
            "worker_starts": worker_starts,
            "polling_again_s": polling_again,
        }
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outages", default="3,30,120",
                        help="outage lengths in seconds, comma-separated")
    parser.add_argument("--activity", type=float, default=8.0, help="seconds per activity")
    parser.add_argument("--workflows", type=int, default=5)
    args = parser.parse_args()
    outages = [float(o) for o in args.outages.split(",")]

    rows = []
    for outage in outages:
        for way, extra in WAYS.items():
            with tempfile.TemporaryDirectory(prefix="ts-outage-") as work:
                print(f"outage: {outage:.0f} s, {way} ...", file=sys.stderr)
                result = trial(way, extra, outage, args.activity, args.workflows, Path(work))
                rows.append((outage, way, result))

    print(f"\n#### {args.workflows} workflows with one {args.activity:.0f} s activity each, "
          "the server killed while they run and started again on its database\n")
    print("| outage | worker | all done after | activity executions | worker processes "
          "| return to polling again |")
    print("|---|---|---|---|---|---|")
    for outage, way, r in rows:
        done = f"{r['all_done_s']:.1f} s"
        if r["completed"] != args.workflows:
            done += f" ({r['completed']} completed)"
        print(f"| {outage:.0f} s | {way} | {done} | {r['executions']} | {r['worker_starts']} "
              f"| {r['polling_again_s']:.1f} s |")


if __name__ == "__main__":
    main()
