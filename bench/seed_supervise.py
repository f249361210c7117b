"""The seed's approach to supervising a worker, written with the official Python SDK: the
same loop as `temporal-supervisor run` (probe every second, stop the worker when Temporal
is unhealthy, start it again when it is back), for a side-by-side footprint.

    python seed_supervise.py ADDRESS INTERVAL_SECONDS -- CMD [ARGS...]
"""
import asyncio
import os
import signal
import sys

from temporalio.client import Client


async def main(address: str, interval: float, command: list[str]) -> int:
    client = None
    child = None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        try:
            if client is None:
                client = await Client.connect(address)
            healthy = await client.service_client.check_health(timeout=__import__("datetime").timedelta(seconds=1))
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            healthy, client = False, None
        if healthy and child is None:
            child = await asyncio.create_subprocess_exec(*command, start_new_session=True)
        elif not healthy and child is not None:
            os.killpg(child.pid, signal.SIGTERM)
            await child.wait()
            child = None
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass
    if child is not None:
        os.killpg(child.pid, signal.SIGTERM)
        await child.wait()
    return 0


if __name__ == "__main__":
    sep = sys.argv.index("--")
    os._exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[sep + 1:])))
