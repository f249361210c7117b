"""Shared by the example workers: connect, poll one task queue, stop cleanly on SIGTERM.

Each worker is a small program with the official Temporal Python SDK, in the shape of the
system this project comes from. None waits for Temporal itself: temporal-supervisor does.
"""
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

ACTIVITY_OPTIONS = {"start_to_close_timeout": timedelta(seconds=30)}


def serve(task_queue: str, workflows: list, activities: list) -> None:
    asyncio.run(_serve(task_queue, workflows, activities))
    # The worker has shut down cleanly. Skip interpreter finalisation: with temporalio 1.35.0
    # it sometimes crashes in the SDK's native core (SIGABRT or SIGSEGV, seen in this
    # project's tests), which would turn a clean stop into exit code 134 or 139.
    sys.stdout.flush()
    os._exit(0)


async def _serve(task_queue: str, workflows: list, activities: list) -> None:
    client = await Client.connect(
        os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
        namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=workflows, activities=activities):
        print(f"{task_queue} worker {os.getpid()} polling", flush=True)
        await stop.wait()
