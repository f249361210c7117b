"""The packages, installed the way worker authors install things (scripts/package-test.sh).

What scripts/package.sh built into dist/ (the release wheel and the two npm tarballs) and what
`pip install .` / `pip wheel .` make from the checkout are each installed into a fresh folder,
and the binary is run from where the installer put it: `--version`, and `check` against a real
Temporal dev server on free loopback ports (exit 0) and against a port where nothing listens
(exit 1). The npm launcher is also checked for what a container entrypoint needs from it: exit
codes, signals passed on, death by the binary's signal.

    .venv/bin/python tests/packages/test_packages.py [-v]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
sys.path.insert(0, str(ROOT / "scripts"))
from free_ports import free_port  # noqa: E402

CRATE = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
VERSION = CRATE["version"]
MIB = 1024 * 1024
PATIENCE = 60  # seconds, for anything that should take one or two


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


SOURCES = ("src", "build.rs", "Cargo.toml", "Cargo.lock")


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


def fresh_venv(name):
    venv = SCRATCH / name
    ok([sys.executable, "-m", "venv", venv])
    return venv


class DevServer:
    """A real Temporal dev server (the `temporal` CLI of .venv) on free loopback ports."""

    def __init__(self):
        ports = []
        for _ in range(3):
            ports.append(free_port(set(ports)))
        self.address = f"127.0.0.1:{ports[0]}"
        self.cli = ROOT / ".venv/bin/temporal"
        self.log = open(SCRATCH / "dev-server.log", "w")
        self.proc = subprocess.Popen(
            [self.cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(ports[0]), "--http-port", str(ports[1]),
             "--metrics-port", str(ports[2]), "--log-level", "error"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + PATIENCE
        while run([self.cli, "operator", "cluster", "health", "--address", self.address],
                  timeout=PATIENCE).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dev server did not start: {(SCRATCH / 'dev-server.log').read_text()}")
            time.sleep(0.2)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def setUpModule():
    global SCRATCH, SERVER, CLOSED
    SCRATCH = Path(tempfile.mkdtemp(prefix="ts-packages-"))
    SERVER = DevServer()
    CLOSED = f"127.0.0.1:{free_port()}"  # nothing listens there


def tearDownModule():
    SERVER.stop()
    subprocess.run(["rm", "-rf", SCRATCH], check=True)


class Installed:
    """Checks that hold for the binary wherever an installer put it."""

    def check_binary(self, path):
        self.assertTrue(os.access(path, os.X_OK), f"{path} is not an executable file")
        version = ok([path, "--version"])
        self.assertEqual(version.stdout, expected_version())
        ready = run([path, "check", "--address", SERVER.address], timeout=PATIENCE)
        self.assertEqual(ready.returncode, 0, f"check against the dev server: {ready.stderr}")
        closed = run([path, "check", "--address", CLOSED], timeout=PATIENCE)
        self.assertEqual(closed.returncode, 1, f"check against nothing: {closed.stderr}")
        self.assertIn("connection refused", closed.stderr)

    def check_on_path(self, bin_dir):
        """`temporal-supervisor` is found on PATH once the folder is on it."""
        found = run(["sh", "-c", "command -v temporal-supervisor"],
                    env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
        self.assertEqual(found.stdout.strip(), str(bin_dir / "temporal-supervisor"))


def wheel_tag(wheel_file):
    with zipfile.ZipFile(wheel_file) as z:
        text = z.read(f"temporal_supervisor-{VERSION}.dist-info/WHEEL").decode()
    return re.search(r"^Tag: (.+)$", text, re.M).group(1)


class ReleaseWheel(unittest.TestCase, Installed):
    """dist/'s wheel: `maturin build --release`, manylinux after maturin's own check."""

    def setUp(self):
        wheels = sorted(DIST.glob("temporal_supervisor-*.whl"))
        self.assertEqual(len(wheels), 1, f"one wheel in dist/: {wheels}")
        self.wheel = wheels[0]

    def test_the_wheel_is_manylinux_small_and_says_what_it_is(self):
        name = re.fullmatch(r"temporal_supervisor-(.+)-py3-none-(manylinux_2_\d+_x86_64)\.whl",
                            self.wheel.name)
        self.assertIsNotNone(name, f"{self.wheel.name}: not a manylinux x86_64 wheel")
        self.assertEqual(name.group(1), VERSION)
        self.assertEqual(wheel_tag(self.wheel), f"py3-none-{name.group(2)}")
        self.assertLess(self.wheel.stat().st_size, 10 * MIB)
        with zipfile.ZipFile(self.wheel) as z:
            binary = z.getinfo(f"temporal_supervisor-{VERSION}.data/scripts/temporal-supervisor")
            metadata = z.read(f"temporal_supervisor-{VERSION}.dist-info/METADATA").decode()
        self.assertEqual(binary.external_attr >> 16 & 0o777, 0o755)
        # The release profile's binary (stripped, fat LTO), not the debug build's 100+ MiB.
        self.assertLess(binary.file_size, 10 * MIB)
        headers = metadata.split("\n\n", 1)[0]
        self.assertIn(f"\nVersion: {VERSION}\n", headers)
        self.assertIn(f"\nSummary: {CRATE['description']}\n", headers)
        self.assertIn("Description-Content-Type: text/markdown", headers)
        self.assertIn("# temporal-supervisor", metadata.split("\n\n", 1)[1])
        # The licence, as an SPDX expression (PEP 639), with both texts; nothing that stops an upload.
        self.assertIn("\nLicense-Expression: MIT OR Apache-2.0\n", headers)
        self.assertIn("\nLicense-File: LICENSE-MIT\n", headers)
        self.assertIn("\nLicense-File: LICENSE-APACHE\n", headers)
        self.assertNotIn("Private ::", headers)

    def test_pip_install_of_the_wheel_into_a_fresh_venv_runs(self):
        venv = fresh_venv("venv-release-wheel")
        ok([venv / "bin/pip", "install", "--no-index", "--disable-pip-version-check",
            self.wheel])
        self.check_on_path(venv / "bin")
        self.check_binary(venv / "bin/temporal-supervisor")


class FromTheCheckout(unittest.TestCase, Installed):
    """The standard PEP 517 path: pip builds with maturin (build isolation, as users get it)."""

    def test_pip_wheel_builds_a_local_wheel(self):
        out = SCRATCH / "pip-wheel"
        ok([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
            "-w", out, ROOT])
        [wheel] = out.glob("*.whl")
        # Tagged for this machine only: the release wheel comes from `maturin build`.
        self.assertEqual(wheel.name, f"temporal_supervisor-{VERSION}-py3-none-linux_x86_64.whl")

    def test_pip_install_from_the_checkout_into_a_fresh_venv_runs(self):
        venv = fresh_venv("venv-checkout")
        ok([venv / "bin/pip", "install", "--disable-pip-version-check", ROOT])
        [info] = (venv / "lib").glob(f"python3*/site-packages/temporal_supervisor-{VERSION}.dist-info")
        self.assertIn("Tag: py3-none-linux_x86_64", (info / "WHEEL").read_text())
        self.check_on_path(venv / "bin")
        self.check_binary(venv / "bin/temporal-supervisor")


def package_json(tarball):
    with tarfile.open(tarball) as t:
        return json.load(t.extractfile("package/package.json")), t.getmembers()


class NpmPackages(unittest.TestCase, Installed):
    """dist/'s npm tarballs: a main package with the launcher, a linux-x64 package with the binary."""

    MAIN = DIST / f"temporal-supervisor-{VERSION}.tgz"
    PLATFORM = DIST / f"temporal-supervisor-linux-x64-{VERSION}.tgz"

    def npm_install(self, name, *tarballs):
        """`npm install` of local tarballs into a fresh folder, offline, with an empty cache:
        anything npm tried to fetch from a registry would fail."""
        folder = SCRATCH / name
        folder.mkdir()
        ok(["npm", "install", "--offline", "--no-audit", "--no-fund", *tarballs], cwd=folder,
           env={**os.environ, "npm_config_cache": str(SCRATCH / f"{name}-npm-cache")})
        return folder

    def test_the_tarballs_hold_the_launcher_and_the_binary(self):
        main, main_files = package_json(self.MAIN)
        platform, platform_files = package_json(self.PLATFORM)
        licences = ["package/LICENSE-APACHE", "package/LICENSE-MIT"]
        self.assertEqual(sorted(m.name for m in main_files),
                         [*licences, "package/bin/temporal-supervisor.js", "package/package.json"])
        self.assertEqual(sorted(m.name for m in platform_files),
                         [*licences, "package/bin/temporal-supervisor", "package/package.json"])
        [binary] = [m for m in platform_files if m.name == "package/bin/temporal-supervisor"]
        self.assertEqual(binary.mode & 0o777, 0o755)
        self.assertLess(binary.size, 10 * MIB)
        self.assertEqual((main["name"], main["version"]), ("temporal-supervisor", VERSION))
        self.assertEqual(main["description"], CRATE["description"])
        self.assertEqual(main["bin"], {"temporal-supervisor": "bin/temporal-supervisor.js"})
        self.assertEqual(main["optionalDependencies"], {platform["name"]: VERSION})
        self.assertEqual(platform["version"], VERSION)
        self.assertEqual((platform["os"], platform["cpu"], platform["libc"]),
                         (["linux"], ["x64"], ["glibc"]))
        for package in (main, platform):
            self.assertEqual(package["license"], "MIT OR Apache-2.0")
            self.assertNotIn("private", package)
            self.assertNotIn("scripts", package)  # nothing runs, nothing downloads at install
        self.assertLess(self.PLATFORM.stat().st_size, 10 * MIB)

    def test_npm_install_of_both_tarballs_runs_through_node_modules_bin(self):
        folder = self.npm_install("npm-both", self.MAIN, self.PLATFORM)
        self.check_binary(folder / "node_modules/.bin/temporal-supervisor")
        bad = run([folder / "node_modules/.bin/temporal-supervisor", "--no-such-flag"])
        self.assertEqual(bad.returncode, 2, bad.stderr)

    def test_without_the_platform_package_the_launcher_says_so(self):
        folder = self.npm_install("npm-main-only", self.MAIN)
        out = run([folder / "node_modules/.bin/temporal-supervisor", "--version"])
        self.assertEqual(out.returncode, 1)
        self.assertIn("the package @temporal-supervisor/linux-x64, which holds the binary, is not installed",
                      out.stderr)

    def test_the_launcher_passes_signals_on_and_ends_as_the_binary_did(self):
        folder = self.npm_install("npm-signals", self.MAIN, self.PLATFORM)
        launcher = folder / "node_modules/.bin/temporal-supervisor"
        log = SCRATCH / "launcher.log"

        def start(*args):
            with open(log, "w") as stderr:
                proc = subprocess.Popen([launcher, *args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=stderr)
            binary = wait_for(lambda: children(proc.pid), "the launcher to start the binary")[0]
            self.addCleanup(kill, proc, binary)  # when the test fails half-way
            return proc, binary

        def wait_for(cond, what):
            deadline = time.monotonic() + PATIENCE
            while not (value := cond()):
                self.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}: {log.read_text()}")
                time.sleep(0.05)
            return value

        # SIGUSR1 and SIGTERM to the launcher reach the supervisor: it logs the first, and
        # stops on the second (0: no worker had started).
        proc, binary = start("run", "--address", CLOSED, "--max-retries", "0", "--", "sleep", "60")
        wait_for(lambda: "waiting for Temporal" in log.read_text(), "the supervisor to wait")
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "SIGUSR1 received with no worker running" in log.read_text(), "SIGUSR1")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(PATIENCE), 0, log.read_text())
        self.assertIn("SIGTERM received", log.read_text())
        self.assertFalse(Path(f"/proc/{binary}").exists(), "the binary outlived the launcher")

        # The binary killed by a signal: the launcher dies of the same signal.
        proc, binary = start("wait", "--address", CLOSED, "--max-retries", "0")
        os.kill(binary, signal.SIGKILL)
        self.assertEqual(proc.wait(PATIENCE), -signal.SIGKILL)


def kill(proc, binary):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    try:
        os.kill(binary, signal.SIGKILL)
    except ProcessLookupError:
        pass


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    unittest.main()
