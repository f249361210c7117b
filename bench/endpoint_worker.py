"""The worker of the endpoint's cost benchmark (bench/endpoint.py). Official Python SDK, at its
defaults but for a SIGTERM handler that stops it (as the SDK's documentation advises).

    python endpoint_worker.py TASK_QUEUE

Workflow `Short(n)` runs one activity that returns at once (start-to-close 10 s): a workflow
task, an activity task (eager, as the SDK asks by default) and a second workflow task.
Workflow `Big(count, size)` runs `count` activities at once, each returning `size` random
bytes (incompressible), and returns the sum of their lengths: the activities' results reach
Temporal in `count` RespondActivityTaskCompleted requests, and come back to the worker in the
history of the workflow task that follows them.
"""
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker


@activity.defn
async def echo(n: int) -> int:
    return n


@activity.defn
async def blob(size: int) -> bytes:
    return os.urandom(size)


@workflow.defn(name="Short")
class Short:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(
            echo, n, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="Big")
class Big:
    def __init__(self) -> None:
        self.received = 0

    @workflow.run
    async def run(self, count: int, size: int) -> int:
        results = await asyncio.gather(*(
            workflow.execute_activity(blob, size, start_to_close_timeout=timedelta(seconds=60))
            for _ in range(count)
        ))
        self.received = sum(len(r) for r in results)
        return self.received

    @workflow.query
    def received_bytes(self) -> int:
        return self.received


async def main(task_queue: str) -> None:
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    client = await Client.connect(**config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[Short, Big],
                      activities=[echo, blob],
                      graceful_shutdown_timeout=timedelta(seconds=10)):
        print(f"{task_queue} worker {os.getpid()} polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)
