"""A worker whose activities take a while, for what an outage or a stop does to work in flight
(tests/it/outage.rs, tests/it/drain*.rs, bench/outage.py, bench/rollout.py). Official Python SDK.

    python slow_activities.py TASK_QUEUE EXECUTIONS_FILE [--sdk-defaults] [--connect STYLE]

Workflow `SlowWork(seconds)` runs one activity that sleeps that long; `HeartbeatWork(seconds)`
one that heartbeats every second meanwhile (heartbeat timeout 3 s: it fails unless its
heartbeats get through). Both have a 60 s start-to-close timeout and the SDK's default retry
policy. Every execution of an activity appends a line to EXECUTIONS_FILE when it starts and
when it returns:

    start WORKFLOW_ID ATTEMPT PID
    done WORKFLOW_ID ATTEMPT PID

so an activity executed twice shows as two `start` lines for one workflow.

--sdk-defaults: written as most workers are, with the SDK's defaults: no signal handler (SIGTERM
kills the process at once) and no graceful shutdown timeout. Without it, SIGTERM and SIGINT stop
the worker as the SDK's documentation advises (shutdown with a 60 s graceful timeout), exit 0.

--connect: how the worker finds Temporal, the three styles seen in the wild:
  envconfig   Temporal's environment configuration (the default; TEMPORAL_ADDRESS, TLS, key...)
  address     Client.connect(os.environ["TEMPORAL_ADDRESS"]): the address alone
  tls-in-code TLS and the API key set in code, as Temporal Cloud samples do: tls from the CA in
              TEMPORAL_TLS_SERVER_CA_CERT_PATH (or the system's roots), api_key from
              TEMPORAL_API_KEY when set
"""
import argparse
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, TLSConfig
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("task_queue")
    parser.add_argument("executions", nargs="?", default=os.devnull)
    parser.add_argument("--sdk-defaults", action="store_true")
    parser.add_argument("--connect", choices=["envconfig", "address", "tls-in-code"],
                        default="envconfig")
    return parser.parse_args()


# Read in the program only: the workflow sandbox imports this file again to validate the
# workflows, and argparse (gettext, locale) is not allowed there.
ARGS = arguments() if __name__ == "__main__" else None


def record(what: str) -> None:
    info = activity.info()
    line = f"{what} {info.workflow_id} {info.attempt} {os.getpid()}\n"
    with open(ARGS.executions, "a", encoding="utf-8") as f:
        f.write(line)


@activity.defn
async def slow_step(seconds: float) -> str:
    record("start")
    await asyncio.sleep(seconds)
    record("done")
    return f"slept {seconds}s"


@activity.defn
async def heartbeating_step(seconds: float) -> str:
    record("start")
    for _ in range(int(seconds)):
        activity.heartbeat()
        await asyncio.sleep(1)
    record("done")
    return f"heartbeat for {seconds}s"


@workflow.defn(name="SlowWork")
class SlowWork:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            slow_step, seconds, start_to_close_timeout=timedelta(seconds=60)
        )


@workflow.defn(name="HeartbeatWork")
class HeartbeatWork:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            heartbeating_step,
            seconds,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=3),
        )


async def connect() -> Client:
    if ARGS.connect == "address":
        return await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    if ARGS.connect == "tls-in-code":
        ca = os.environ.get("TEMPORAL_TLS_SERVER_CA_CERT_PATH")
        tls = TLSConfig(server_root_ca_cert=open(ca, "rb").read()) if ca else True
        return await Client.connect(
            os.environ["TEMPORAL_ADDRESS"],
            namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
            tls=tls,
            api_key=os.environ.get("TEMPORAL_API_KEY"),
        )
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(**config)


async def main() -> None:
    client = await connect()
    worker = Worker(
        client,
        task_queue=ARGS.task_queue,
        workflows=[SlowWork, HeartbeatWork],
        activities=[slow_step, heartbeating_step],
        **({} if ARGS.sdk_defaults else {"graceful_shutdown_timeout": timedelta(seconds=60)}),
    )
    if ARGS.sdk_defaults:
        print(f"{ARGS.task_queue} worker {os.getpid()} polling", flush=True)
        await worker.run()
        return
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        print(f"{ARGS.task_queue} worker {os.getpid()} polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    # As in examples/workers/common.py: skip interpreter finalisation after a clean stop.
    sys.stdout.flush()
    os._exit(0)
