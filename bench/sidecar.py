"""What one sidecar costs the server in steady state, side by side with `run`, in one run on
loopback: the frontend's own count of our requests (`service_requests` for GetSystemInfo,
Check, Watch, DescribeNamespace, DescribeTaskQueue), per second, over --idle seconds.

    ./bench/sidecar.sh [--idle 600]

Configurations, each against a fresh dev server, with real Python SDK workers
(tests/workers/plain_worker.py) polling their queues on this host:
1. `run -- sleep` without task queues (no poller proof: the monitor alone);
2. `run --task-queue q1` around one worker;
3. `watch --task-queue q1` beside one worker;
4. `watch --task-queue q1,q2,q3` beside three workers, one per queue.
The workers' own requests (polls, heartbeats) are not among the operations counted; the
count starts once the supervisor found its workers polling (or, without queues, once ready).

Prints a Markdown table.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import free_port  # noqa: E402
from herd import CLEAN_ENV, Server, wait_until  # noqa: E402

BINARY = str(ROOT / "target" / "release" / "temporal-supervisor")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
WORKER = str(ROOT / "tests" / "workers" / "plain_worker.py")


def measure(name: str, args: list[str], queues: list[str], idle: float, work: Path) -> dict:
    server = Server()
    server.start()
    wait_until("the dev server", 120, server.healthy)
    address = f"127.0.0.1:{server.port}"
    health = free_port()
    env = dict(CLEAN_ENV, TEMPORAL_ADDRESS=address)
    workers = [
        subprocess.Popen([PYTHON, WORKER, q], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for q in (queues if args[0] == "watch" else [])
    ]
    log = work / f"{name}.log"
    with open(log, "w") as out:
        command = [BINARY, *args, "--address", address, "--health-listen",
                   f"127.0.0.1:{health}", "--max-retries", "0"]
        if args[0] == "run":
            worker = ["sleep", "1000000"] if not queues else [PYTHON, WORKER, queues[0]]
            command += ["--", *worker]
        supervisor = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=out)
    try:
        ready = "ready" if not queues else ("polls its task queues" if args[0] == "watch"
                                            else "worker is polling")
        wait_until(f"{name}: '{ready}'", 120,
                   lambda: ready in log.read_text(errors="replace"))
        time.sleep(5)  # let start-up settle before counting
        before = server.our_requests()
        started = time.time()
        time.sleep(idle)
        elapsed = time.time() - started
        time.sleep(1.5)  # the server's metrics lag about a second
        sent = server.our_requests() - before
        return {"name": name, "requests": sent, "seconds": elapsed, "per_s": sent / elapsed}
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=30)
        for w in workers:
            w.terminate()
            w.wait(timeout=30)
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=600.0)
    opts = parser.parse_args()
    configurations = [
        ("run, no task queue", ["run"], []),
        ("run --task-queue q1", ["run", "--task-queue", "q1"], ["q1"]),
        ("watch --task-queue q1", ["watch", "--task-queue", "q1"], ["q1"]),
        ("watch --task-queue q1,q2,q3", ["watch", "--task-queue", "q1,q2,q3"],
         ["q1", "q2", "q3"]),
    ]
    with tempfile.TemporaryDirectory(prefix="ts-sidecar-") as tmp:
        rows = [measure(name, args, queues, opts.idle, Path(tmp))
                for name, args, queues in configurations]
    print(f"\nSteady state over {opts.idle:.0f} s each; the frontend's own request counts.\n")
    print("| configuration | requests | requests/s |")
    print("|---|---|---|")
    for r in rows:
        print(f"| `{r['name']}` | {r['requests']} | {r['per_s']:.4f} |")


if __name__ == "__main__":
    main()
