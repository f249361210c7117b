"""What a rolling update costs the work in flight: the old pod's worker stopped by SIGTERM while
its activities run, a surge pod already polling the same queue; the worker run bare (SDK
defaults, and as the SDK's documentation advises), under `run --endpoint=false` and under `run`
(its local endpoint drains the worker first), side by side in one run, on loopback.

    ./bench/rollout.sh [--activity 15] [--workflows 5] [--grace 40] [--in-flight-for 3]

For each row:
1. a dev server keeping its state in a database file, with the namespace's poll-completion
   capability on (`--dynamic-config-value frontend.enableCancelWorkerPollsOnShutdown=true`,
   checked in DescribeNamespace's `worker_poll_complete_on_shutdown`) or, for the last row,
   off (the dev server's default);
2. the old pod: the worker of tests/workers/slow_activities.py (Python SDK), bare or under
   `run --task-queue --stop-timeout GRACE`; once it polls, five workflows start, each running
   one 15 s activity (start-to-close timeout 60 s, the SDK's default retry policy);
3. once all five activities execute, the surge pod (the same worker, run the same way) starts
   on the same task queue; once Temporal lists its pollers and the activities have run for
   --in-flight-for seconds, the old pod gets SIGTERM, as the kubelet or `docker stop` sends it
   to the container's first process, and SIGKILL (its whole tree) if it is still there after
   --grace seconds; five new workflows start right after the SIGTERM;
4. measured from the SIGTERM: the last of the first five workflows closed (the server's own
   close times), activity executions of the first five (the workers write a `start` line per
   execution), the old pod's exit and code, the last of the new five closed, and how many of
   the new five's activities the old pod ran.

Prints a Markdown table, then what each `run` said about its drain.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import free_port  # noqa: E402
from outage import PYTHON, SUPERVISOR, TEMPORAL, WORKER, parse_time  # noqa: E402

CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_CONFIG_FILE": "/nonexistent"}
QUEUE = "rollout"
CAPABILITY = "frontend.enableCancelWorkerPollsOnShutdown=true"

# (row, how the pods run: None bare or run's own options, the worker's options, capability on)
ROWS = [
    ("the worker run bare, SDK defaults", None, ["--sdk-defaults"], True),
    ("the same worker written as the SDK's docs advise (SIGTERM handler calling "
     "`shutdown()`, 60 s graceful shutdown timeout)", None, [], True),
    ("the default worker under `run --endpoint=false` (the connection handed over "
     "directly, as before the endpoint)", ["--endpoint=false"], ["--sdk-defaults"], True),
    ("the default worker under `run` (defaults, `--task-queue`)", [], ["--sdk-defaults"], True),
    ("the default worker under `run`, the namespace without the poll-completion capability",
     [], ["--sdk-defaults"], False),
]


def wait_until(what: str, limit: float, cond, every: float = 0.1) -> None:
    start = time.time()
    while not cond():
        if time.time() - start > limit:
            raise SystemExit(f"rollout: timed out after {limit:.0f} s waiting for {what}")
        time.sleep(every)


class Server:
    def __init__(self, db: Path, capability: bool) -> None:
        self.port, self.http, self.metrics = free_port(), free_port(), free_port()
        self.db = db
        self.capability = capability
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        extra = ["--dynamic-config-value", CAPABILITY] if self.capability else []
        self.process = subprocess.Popen(
            [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(self.http),
             "--metrics-port", str(self.metrics), "--log-level", "error",
             "--db-filename", str(self.db), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TEMPORAL, *args, "--address", self.address],
                              capture_output=True, text=True, env=CLEAN_ENV)

    def healthy(self) -> bool:
        return self.cli("operator", "cluster", "health").returncode == 0

    def completes_polls(self) -> bool:
        """The namespace's `worker_poll_complete_on_shutdown`, as the endpoint reads it."""
        out = self.cli("operator", "namespace", "describe", "--namespace", "default",
                       "-o", "json")
        assert out.returncode == 0, out.stderr
        capabilities = json.loads(out.stdout)["namespaceInfo"].get("capabilities", {})
        return bool(capabilities.get("workerPollCompleteOnShutdown"))

    def poller_identities(self) -> dict[str, set[str]]:
        """The identities polling the queue, by task queue type (workflow, activity)."""
        out = self.cli("task-queue", "describe", "--task-queue", QUEUE, "-o", "json")
        found: dict[str, set[str]] = {"workflow": set(), "activity": set()}
        if out.returncode != 0:
            return found
        for p in json.loads(out.stdout).get("pollers") or []:
            found.setdefault(p.get("taskQueueType", ""), set()).add(p.get("identity", ""))
        return found

    def start_workflow(self, workflow_id: str, seconds: float) -> None:
        out = self.cli("workflow", "start", "--task-queue", QUEUE, "--type", "SlowWork",
                       "--workflow-id", workflow_id, "--input", str(seconds))
        assert out.returncode == 0, out.stderr

    def closed_at(self, workflow_id: str) -> float | None:
        out = self.cli("workflow", "describe", "--workflow-id", workflow_id, "-o", "json")
        if out.returncode != 0:
            return None
        close = json.loads(out.stdout).get("workflowExecutionInfo", {}).get("closeTime")
        return parse_time(close) if close else None

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process.pid)
            self.process.wait()
            self.process = None


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


class Pod:
    """One pod's first process: the worker itself, or `run` with the worker as its child."""

    def __init__(self, name: str, server: Server, run: list[str] | None, worker: list[str],
                 grace: float, work: Path) -> None:
        self.executions = work / f"{name}.executions"
        self.log = work / f"{name}.log"
        command = [PYTHON, WORKER, QUEUE, str(self.executions), *worker]
        env = dict(CLEAN_ENV)
        if run is None:
            env["TEMPORAL_ADDRESS"] = server.address
        else:
            command = [SUPERVISOR, "run", "--address", server.address, "--task-queue", QUEUE,
                       "--stop-timeout", f"{grace:g}s", *run, "--", *command]
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=out, start_new_session=True)
        self.exited: tuple[float, int] | None = None
        self.killed_at_grace = False
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        code = self.process.wait()
        self.exited = (time.time(), code)

    def starts(self) -> list[str]:
        """The workflow id of each activity execution this pod's worker began."""
        text = self.executions.read_text() if self.executions.exists() else ""
        return [line.split()[1] for line in text.splitlines() if line.startswith("start ")]

    def kill_tree(self) -> None:
        for pid in descendants(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def drain_lines(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "drain" in line]


def trial(run: list[str] | None, worker: list[str], capability: bool, args, work: Path) -> dict:
    server = Server(work / "temporal.db", capability)
    server.start()
    pods: list[Pod] = []
    try:
        wait_until("the dev server", 120, server.healthy)
        assert server.completes_polls() == capability, "the capability is not as asked"
        old = Pod("old", server, run, worker, args.grace, work)
        pods.append(old)

        def identities_polling() -> set[str]:
            seen = server.poller_identities()
            return seen["workflow"] & seen["activity"]

        wait_until("the old pod to poll", 120, lambda: bool(identities_polling()), every=0.3)
        old_identities = identities_polling()
        first = [f"first-{i}" for i in range(args.workflows)]
        for workflow_id in first:
            server.start_workflow(workflow_id, args.activity)
        wait_until("the first activities to execute", 60,
                   lambda: len(old.starts()) >= args.workflows, every=0.05)
        all_executing = time.time()
        surge = Pod("surge", server, run, worker, args.grace, work)
        pods.append(surge)
        wait_until("the surge pod to poll", 120,
                   lambda: bool(identities_polling() - old_identities), every=0.3)
        time.sleep(max(0.0, all_executing + args.in_flight_for - time.time()))
        in_flight_for = time.time() - all_executing

        sigterm = time.time()
        os.kill(old.process.pid, signal.SIGTERM)
        second = [f"second-{i}" for i in range(args.workflows)]
        for workflow_id in second:
            server.start_workflow(workflow_id, args.activity)

        def gone_or_killed() -> bool:
            if old.exited is None and time.time() - sigterm > args.grace:
                old.killed_at_grace = True
                old.kill_tree()
            return old.exited is not None

        closes: dict[str, float] = {}

        def all_closed() -> bool:
            gone_or_killed()
            for workflow_id in first + second:
                if workflow_id not in closes:
                    closed = server.closed_at(workflow_id)
                    if closed is not None:
                        closes[workflow_id] = closed
            return len(closes) == len(first) + len(second)

        wait_until("every workflow to close", 300, all_closed, every=0.5)
        wait_until("the old pod to exit", args.grace + 10, gone_or_killed)
        exit_time, code = old.exited
        starts = old.starts() + surge.starts()
        return {
            "first_done_s": max(closes[w] for w in first) - sigterm,
            "executions": sum(1 for w in starts if w in first),
            "exit_s": exit_time - sigterm,
            "code": code,
            "killed_at_grace": old.killed_at_grace,
            "second_done_s": max(closes[w] for w in second) - sigterm,
            "second_on_old": sum(1 for w in old.starts() if w in second),
            "in_flight_for_s": in_flight_for,
            "drain": old.drain_lines() if run is not None else [],
        }
    finally:
        for pod in pods:
            pod.kill_tree()
        server.kill()


def exit_words(r: dict) -> str:
    code = r["code"]
    if r["killed_at_grace"]:
        how = "SIGKILL at the grace's end"
    elif code < 0:
        how = f"killed by {signal.Signals(-code).name}"
    else:
        how = f"exit {code}"
    return f"{r['exit_s']:.1f} s, {how}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activity", type=float, default=15.0, help="seconds per activity")
    parser.add_argument("--workflows", type=int, default=5)
    parser.add_argument("--grace", type=float, default=40.0,
                        help="seconds from SIGTERM to SIGKILL (run: --stop-timeout)")
    parser.add_argument("--in-flight-for", type=float, default=3.0,
                        help="seconds the activities have run at the SIGTERM (at least)")
    args = parser.parse_args()

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start", file=sys.stderr)
    results = []
    for name, run, worker, capability in ROWS:
        with tempfile.TemporaryDirectory(prefix="ts-rollout-") as work:
            print(f"rollout: {name} ...", file=sys.stderr)
            results.append((name, run, capability, trial(run, worker, capability, args,
                                                         Path(work))))

    n = args.workflows
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"\n#### {n} workflows with one {args.activity:g} s activity each in flight on the old "
          f"pod, a surge pod polling, SIGTERM with a {args.grace:g} s grace, {n} new workflows "
          "started right after\n")
    print(f"| the old pod | poll completion | in-flight {n} done after SIGTERM | activity "
          f"executions | old pod exits after | new {n} done after SIGTERM | new {n}: activities "
          "run by the old pod |")
    print("|---|---|---|---|---|---|---|")
    for name, _, capability, r in results:
        print(f"| {name} | {'on' if capability else 'off'} | {r['first_done_s']:.1f} s "
              f"| {r['executions']} | {exit_words(r)} "
              f"| {r['second_done_s']:.1f} s | {r['second_on_old']} |")
    print()
    for name, _, _, r in results:
        print(f"- {name}: SIGTERM after the activities had run {r['in_flight_for_s']:.1f} s")
        for line in r["drain"]:
            print(f"  - `{line.strip()}`")


if __name__ == "__main__":
    main()
