"""The aarch64 packages, run on this x86_64 machine under qemu-user (`qemu-aarch64-static
BINARY ...`, Debian's qemu-user-static; the loader and libc are Debian's libc6:arm64, found
without -L). Loopback networking and signals reach the emulated process as a native one's,
and a program it starts runs natively.

dist/'s bare aarch64 binary and the one pip installs from the aarch64 wheel (for that
platform, into a folder) say their version and answer `check` against a real dev server on a
free loopback port; `run` starts a worker, passes SIGUSR1 on to it, and stops it on SIGTERM
with its exit code.

    .venv/bin/python tests/packages/test_aarch64.py -v
"""
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import elf
from support import (PATIENCE, DevServer, binary, closed_address, expected_version, ok, run,
                     wait_for, wheel)

QEMU = "/usr/bin/qemu-aarch64-static"


def setUpModule():
    global SCRATCH, SERVER
    SCRATCH = Path(tempfile.mkdtemp(prefix="ts-aarch64-"))
    SERVER = DevServer(SCRATCH)


def tearDownModule():
    SERVER.stop()
    shutil.rmtree(SCRATCH)


class UnderQemu(unittest.TestCase):
    def check_runs(self, path):
        self.assertEqual(elf.read(path).machine, "aarch64")
        version = run([QEMU, path, "--version"])
        self.assertEqual((version.returncode, version.stdout), (0, expected_version()),
                         version.stderr)
        ready = run([QEMU, path, "check", "--address", SERVER.address], timeout=PATIENCE)
        self.assertEqual(ready.returncode, 0, f"check against the dev server: {ready.stderr}")
        closed = run([QEMU, path, "check", "--address", closed_address()], timeout=PATIENCE)
        self.assertEqual(closed.returncode, 1, f"check against nothing: {closed.stderr}")
        self.assertIn("connection refused", closed.stderr)

    def test_the_bare_binary_runs(self):
        self.check_runs(binary("aarch64"))

    def test_the_binary_pip_installs_from_the_aarch64_wheel_runs(self):
        target = SCRATCH / "pip-target"
        ok([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
            "--disable-pip-version-check", "--platform", "manylinux2014_aarch64",
            "--only-binary=:all:", "--target", target, wheel("aarch64")])
        self.check_runs(target / "bin/temporal-supervisor")

    def test_run_starts_a_worker_passes_signals_on_and_stops_it(self):
        got = SCRATCH / "got"
        log = SCRATCH / "run.log"
        worker = (f"trap 'echo usr1 >> {got}' USR1; trap 'echo term >> {got}; exit 0' TERM; "
                  f"echo ready >> {got}; while :; do sleep 0.05; done")
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [QEMU, binary("aarch64"), "run", "--address", SERVER.address,
                 "--", "sh", "-c", worker],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.addCleanup(end, proc)

        def said(text):
            return lambda: got.exists() and text in got.read_text()

        wait_for(lambda: "worker started" in log.read_text(), "the worker to start", log)
        wait_for(said("ready"), "the worker's traps", log)
        proc.send_signal(signal.SIGUSR1)
        wait_for(said("usr1"), "SIGUSR1 to reach the worker", log)
        wait_for(lambda: "forwarded SIGUSR1 to the worker" in log.read_text(), "the log", log)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(PATIENCE), 0, log.read_text())
        self.assertIn("term", got.read_text())
        self.assertIn("SIGTERM received", log.read_text())


def end(proc):
    """When the test failed half-way: the worker dies with the supervisor (PDEATHSIG)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    unittest.main()
