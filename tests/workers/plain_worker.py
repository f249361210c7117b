"""A document worker written without the example's extras, for tests of what the supervisor
recognises. It connects through Temporal's environment configuration like the examples, but
ignores the worker controller's versioning variables (the common mistake: no SDK reads them by
itself), and with --go-identity identifies as the Go SDK does by default,
`<pid>@<hostname>@`, which stands in for a Go worker (no Go toolchain here).

    python plain_worker.py TASK_QUEUE [--go-identity]
"""
import asyncio
import os
import signal
import socket
import sys

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

# The example's workflow and activity, run by a worker written without the example's extras.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "workers"))
from document_processing import ProcessDocument, extract_text  # noqa: E402


async def main(task_queue: str, go_identity: bool) -> None:
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    if go_identity:
        # The Go SDK's default: pid@host@taskqueue with an empty task queue.
        config["identity"] = f"{os.getpid()}@{socket.gethostname()}@"
    client = await Client.connect(**config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client, task_queue=task_queue, workflows=[ProcessDocument], activities=[extract_text]
    ):
        print(f"{task_queue} worker {os.getpid()} polling as {client.identity}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--go-identity" in sys.argv[2:]))
    sys.stdout.flush()
    os._exit(0)
