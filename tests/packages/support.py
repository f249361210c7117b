"""What the package tests share: the checkout and dist/, what --version of its build says, a
real Temporal dev server on free loopback ports, and running commands with a bound."""
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
sys.path.insert(0, str(ROOT / "scripts"))
from free_ports import free_port  # noqa: E402

CRATE = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
VERSION = CRATE["version"]
LICENCE = "MIT OR Apache-2.0"
MIB = 1024 * 1024
PATIENCE = 60  # seconds, for anything that should take one or two
SOURCES = ("src", "build.rs", "Cargo.toml", "Cargo.lock")
# Each architecture as Python's wheel tags, Docker (and dist/'s folders) and npm name it.
ARCHES = {
    "x86_64": {"docker": "amd64", "npm": "x64"},
    "aarch64": {"docker": "arm64", "npm": "arm64"},
}
GLIBC_FLOOR = (2, 17)


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def expected_version():
    """What --version of a build of this checkout says (build.rs): the crate's version and the
    last commit that changed the sources."""
    commit, date = git("log", "-1", "--format=%h %cs", "--abbrev=12", "--", *SOURCES).split()
    dirty = "-dirty" if git("status", "--porcelain", "--", *SOURCES) else ""
    return f"temporal-supervisor {VERSION} ({commit}{dirty} {date})\n"


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 600), **kw)


def ok(cmd, **kw):
    out = run(cmd, **kw)
    if out.returncode != 0:
        raise AssertionError(f"{cmd} exited {out.returncode}:\n{out.stdout}{out.stderr}")
    return out


def wheel(arch):
    """dist/'s release wheel for ARCH (x86_64 or aarch64)."""
    found = sorted(DIST.glob(f"temporal_supervisor-{VERSION}-py3-none-*_{arch}.whl"))
    assert len(found) == 1, f"one {arch} wheel in {DIST}: {found}"
    return found[0]


def binary(arch):
    """dist/'s bare binary for ARCH, in Docker's name for the platform (linux-amd64/...)."""
    return DIST / f"linux-{ARCHES[arch]['docker']}" / "temporal-supervisor"


def npm_tarball(arch=None):
    """dist/'s npm tarball: the launcher's, or ARCH's platform package's."""
    name = f"linux-{ARCHES[arch]['npm']}-" if arch else ""
    return DIST / f"temporal-supervisor-{name}{VERSION}.tgz"


def wait_for(cond, what, log=None, patience=PATIENCE):
    """Polls COND until it gives something true, which it returns; fails after PATIENCE."""
    deadline = time.monotonic() + patience
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" +
                                 (f": {Path(log).read_text()}" if log else ""))
        time.sleep(0.05)
    return value


class DevServer:
    """A real Temporal dev server (the `temporal` CLI of .venv) on free loopback ports."""

    def __init__(self, scratch):
        ports = []
        for _ in range(3):
            ports.append(free_port(set(ports)))
        self.address = f"127.0.0.1:{ports[0]}"
        self.cli = ROOT / ".venv/bin/temporal"
        self.log_path = Path(scratch) / "dev-server.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(ports[0]), "--http-port", str(ports[1]),
             "--metrics-port", str(ports[2]), "--log-level", "error"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + PATIENCE
        while run([self.cli, "operator", "cluster", "health", "--address", self.address],
                  timeout=PATIENCE).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dev server did not start: {self.log_path.read_text()}")
            time.sleep(0.2)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def closed_address():
    """A loopback address where nothing listens."""
    return f"127.0.0.1:{free_port()}"
