"""Free loopback ports from below the kernel's ephemeral range.

The demo and the benchmarks kill a dev server and start it again on the same port. A port of
the ephemeral range can be taken in between by any outgoing connection (the gate's own port
watch included, which can even connect to itself) or by a dev server's internal ports; below
that range only an explicit bind takes a port.

    python scripts/free_ports.py N    prints N different free ports
"""
import random
import socket
import sys

LOWEST = 10_000


def ephemeral_range_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(exclude=frozenset()) -> int:
    """A loopback port below the ephemeral range that nothing is bound to, not in `exclude`."""
    ceiling = max(ephemeral_range_start(), LOWEST + 1_000)
    span = ceiling - LOWEST
    start = random.randrange(span)
    for step in range(span):
        port = LOWEST + (start + step) % span
        if port in exclude:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free loopback port between {LOWEST} and {ceiling}")


if __name__ == "__main__":
    ports: list[int] = []
    for _ in range(int(sys.argv[1])):
        ports.append(free_port(set(ports)))
    print(*ports)
