"""The seed's health check: one Client.connect with the official Python SDK.

Exit 0 when the connection (and its GetSystemInfo call) succeeds, 1 otherwise.
"""
import asyncio
import sys

from temporalio.client import Client


async def main(address: str, namespace: str) -> int:
    try:
        await Client.connect(address, namespace=namespace)
    except Exception as e:  # noqa: BLE001 - any failure means "not ready"
        print(f"not ready: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "default")))
