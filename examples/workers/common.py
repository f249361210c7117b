"""Shared by the example workers: connect, poll one task queue, stop cleanly on SIGTERM.

Each worker is a small program with the official Temporal Python SDK, in the shape of the
system this project comes from. None waits for Temporal itself: temporal-supervisor does.

The connection comes from Temporal's own environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, a profile file), which
temporal-supervisor sets to the connection it checked. With TEMPORAL_DEPLOYMENT_NAME and
TEMPORAL_WORKER_BUILD_ID (Temporal's Kubernetes worker controller sets them) the worker polls
as that worker-deployment version; no SDK does that by itself.
"""
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerDeploymentVersion

ACTIVITY_OPTIONS = {"start_to_close_timeout": timedelta(seconds=30)}


def serve(task_queue: str, workflows: list, activities: list) -> None:
    asyncio.run(_serve(task_queue, workflows, activities))
    # The worker has shut down cleanly. Skip interpreter finalisation: with temporalio 1.35.0
    # it sometimes crashes in the SDK's native core (SIGABRT or SIGSEGV, seen in this
    # project's tests), which would turn a clean stop into exit code 134 or 139.
    sys.stdout.flush()
    os._exit(0)


def deployment_config() -> dict:
    """Worker-versioning options from the worker controller's variables, when both are set."""
    name = os.environ.get("TEMPORAL_DEPLOYMENT_NAME")
    build_id = os.environ.get("TEMPORAL_WORKER_BUILD_ID")
    if not (name and build_id):
        return {}
    return {
        "deployment_config": WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        )
    }


async def _serve(task_queue: str, workflows: list, activities: list) -> None:
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    client = await Client.connect(**config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        **deployment_config(),
    ):
        print(f"{task_queue} worker {os.getpid()} polling", flush=True)
        await stop.wait()
