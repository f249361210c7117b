"""The seed's wait script: Client.connect with exponential backoff.

max_retries 10, initial_delay 1 s, max_delay 60 s, backoff_factor 2.0: attempts at
0, 1, 3, 7, 15, 31, ... seconds. Exit 0 once connected, 1 when the attempts run out.
"""
import asyncio
import os
import sys

from temporalio.client import Client


async def main(address: str) -> int:
    delay, max_delay, factor = 1.0, 60.0, 2.0
    for attempt in range(1, 11):
        try:
            await Client.connect(address, namespace="default")
            return 0
        except Exception:  # noqa: BLE001
            if attempt == 10:
                return 1
            await asyncio.sleep(delay)
            delay = min(delay * factor, max_delay)
    return 1


if __name__ == "__main__":
    # os._exit: after failed connects, interpreter finalisation sometimes crashes inside the
    # SDK's native core (SIGSEGV/SIGABRT, seen with temporalio 1.35.0); the measured moment is
    # when the script decides, not how it tears down.
    os._exit(asyncio.run(main(sys.argv[1])))
