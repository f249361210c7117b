"""The x86_64 packages where many workers still run: Debian 11 (glibc 2.31, pip 20.3), older
than this machine's Debian 12 (glibc 2.36), in a root made by tests/packages/debian11-root.sh.

dist/'s bare binary is copied in and run there, and dist/'s wheel is installed there with that
root's own pip into a fresh virtualenv; each answers `check` against a real dev server on a
free loopback port of this machine (the root shares its network) and fails against a closed
one. A binary of this machine needing glibc 2.34 is run there too, and must fail: the root
really is older.

Every command runs as `unshare --mount --pid --fork --mount-proc chroot ROOT ...`, so that
/proc is there, every process it started ends with it, and nothing stays mounted.

    .venv/bin/python tests/packages/test_debian11.py -v    (as root)
"""
import shutil
import tempfile
import unittest
from pathlib import Path

import elf
from support import (PATIENCE, ROOT, DevServer, binary, closed_address, expected_version, ok,
                     run, wheel)

# Found on this machine's PATH, wherever the root's processes are told to look.
UNSHARE, CHROOT_BIN = shutil.which("unshare"), shutil.which("chroot")


def setUpModule():
    global SCRATCH, SERVER, CHROOT, INSIDE
    SCRATCH = Path(tempfile.mkdtemp(prefix="ts-debian11-"))
    CHROOT = Path(ok([ROOT / "tests/packages/debian11-root.sh"], timeout=1200).stdout.strip())
    INSIDE = Path(tempfile.mkdtemp(prefix="ts-test-", dir=CHROOT / "tmp"))  # ours, in the root
    SERVER = DevServer(SCRATCH)


def tearDownModule():
    SERVER.stop()
    shutil.rmtree(SCRATCH)
    shutil.rmtree(INSIDE)


def inside(path):
    """PATH (under INSIDE) as the root's processes see it."""
    return "/" + str(Path(path).relative_to(CHROOT))


def chroot(*cmd, **kw):
    """CMD in the root; KW as for subprocess.run (an `env` is the root's processes')."""
    return run([UNSHARE, "--mount", "--pid", "--fork", f"--mount-proc={CHROOT}/proc",
                CHROOT_BIN, CHROOT, *cmd], **kw)


class Debian11(unittest.TestCase):
    def test_the_root_is_debian_11_with_glibc_2_31(self):
        self.assertRegex((CHROOT / "etc/debian_version").read_text(), r"^11\.")
        self.assertEqual(chroot("getconf", "GNU_LIBC_VERSION").stdout.strip(), "glibc 2.31")

    def test_a_binary_that_needs_glibc_2_34_fails_there(self):
        host = Path("/usr/bin/ls")
        self.assertGreater(elf.read(host).glibc_floor(), (2, 31))
        shutil.copy(host, INSIDE / "host-ls")
        out = chroot(inside(INSIDE / "host-ls"), "/")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("GLIBC_2.3", out.stderr)  # "version `GLIBC_2.34' not found"

    def check_runs(self, path):
        version = chroot(path, "--version")
        self.assertEqual((version.returncode, version.stdout), (0, expected_version()),
                         version.stderr)
        ready = chroot(path, "check", "--address", SERVER.address, timeout=PATIENCE)
        self.assertEqual(ready.returncode, 0, f"check against the dev server: {ready.stderr}")
        closed = chroot(path, "check", "--address", closed_address(), timeout=PATIENCE)
        self.assertEqual(closed.returncode, 1, f"check against nothing: {closed.stderr}")
        self.assertIn("connection refused", closed.stderr)

    def test_the_bare_binary_runs_there(self):
        shutil.copy(binary("x86_64"), INSIDE / "temporal-supervisor")
        self.check_runs(inside(INSIDE / "temporal-supervisor"))

    def test_the_wheel_installs_with_its_pip_into_a_fresh_venv_and_runs(self):
        shutil.copy(wheel("x86_64"), INSIDE)
        venv = inside(INSIDE / "venv")
        made = chroot("python3", "-m", "venv", venv)
        self.assertEqual(made.returncode, 0, made.stderr)
        pip = chroot(f"{venv}/bin/pip", "--version")
        self.assertRegex(pip.stdout, r"^pip 20\.3\.", pip.stderr)
        installed = chroot(f"{venv}/bin/pip", "install", "--no-index", "--no-cache-dir",
                           "--disable-pip-version-check", inside(INSIDE / wheel("x86_64").name))
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        self.check_runs(f"{venv}/bin/temporal-supervisor")
        found = chroot("sh", "-c", "command -v temporal-supervisor",
                       env={"PATH": f"{venv}/bin:/usr/bin:/bin"})
        self.assertEqual(found.stdout.strip(), f"{venv}/bin/temporal-supervisor", found.stderr)


if __name__ == "__main__":
    unittest.main()
