"""A worker whose activities take a while, for what a Temporal outage does to work in flight
(the tests in tests/outage.rs and bench/outage.py). Official Python SDK; it connects through
Temporal's environment configuration like the example workers.

    python slow_activities.py TASK_QUEUE EXECUTIONS_FILE

Workflow `SlowWork(seconds)` runs one activity that sleeps that long (start-to-close timeout
60 s, the SDK's default retry policy). Every execution of the activity appends a line to
EXECUTIONS_FILE when it starts and when it returns:

    start WORKFLOW_ID ATTEMPT PID
    done WORKFLOW_ID ATTEMPT PID

so an activity executed twice shows as two `start` lines for one workflow.
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

EXECUTIONS = sys.argv[2] if len(sys.argv) > 2 else os.devnull


def record(what: str) -> None:
    info = activity.info()
    line = f"{what} {info.workflow_id} {info.attempt} {os.getpid()}\n"
    with open(EXECUTIONS, "a", encoding="utf-8") as f:
        f.write(line)


@activity.defn
async def slow_step(seconds: float) -> str:
    record("start")
    await asyncio.sleep(seconds)
    record("done")
    return f"slept {seconds}s"


@workflow.defn(name="SlowWork")
class SlowWork:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            slow_step, seconds, start_to_close_timeout=timedelta(seconds=60)
        )


async def main(task_queue: str) -> None:
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    client = await Client.connect(**config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[SlowWork], activities=[slow_step]):
        print(f"{task_queue} worker {os.getpid()} polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    # As in examples/workers/common.py: skip interpreter finalisation after a clean stop.
    sys.stdout.flush()
    os._exit(0)
