"""A document-processing worker with the official Temporal Python SDK.

Run it under the supervisor, which waits for Temporal, checks that this worker polls its task
queue, and restarts it when Temporal is lost and comes back:

    temporal-supervisor run --task-queue documents --health-listen :8080 -- \
        python examples/python-worker/worker.py

Environment: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default),
TASK_QUEUE (documents). SIGTERM and SIGINT shut the worker down gracefully.
"""
import asyncio
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def extract_text(document: str) -> str:
    """Stands in for OCR or parsing: the 'text' of a document."""
    return f"text of {document}"


@activity.defn
async def classify(text: str) -> str:
    return "invoice" if "invoice" in text else "report"


@workflow.defn(name="ProcessDocument")
class ProcessDocument:
    @workflow.run
    async def run(self, document: str) -> str:
        options = {"start_to_close_timeout": timedelta(seconds=10)}
        text = await workflow.execute_activity(extract_text, document, **options)
        kind = await workflow.execute_activity(classify, text, **options)
        return f"{document}: {kind}, {len(text)} characters"


async def main() -> None:
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    task_queue = os.environ.get("TASK_QUEUE", "documents")
    client = await Client.connect(address, namespace=namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ProcessDocument],
        activities=[extract_text, classify],
    ):
        print(f"worker {os.getpid()} polling {task_queue} on {address}", flush=True)
        await stop.wait()
    print(f"worker {os.getpid()} stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
