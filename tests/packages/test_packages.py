"""The packages, installed the way worker authors install things (scripts/package-test.sh).

What scripts/package.sh built into dist/ (the release wheels, the npm tarballs, the bare
binaries and their sums) and what `pip install .` makes from the checkout are
each installed into a fresh folder, and the x86_64 binary is run from where the installer put
it: `--version`, and `check` against a real Temporal dev server on free loopback ports (exit 0)
and against a port where nothing listens (exit 1). The npm launcher is also checked for what a
container entrypoint needs from it: exit codes, signals passed on, death by the binary's
signal. The aarch64 artifacts are installed here as their installers allow it (pip's and npm's
platform options); they run under qemu in test_aarch64.py.

    .venv/bin/python tests/packages/test_packages.py -v
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

from support import (ARCHES, CRATE, DIST, LICENCE, MIB, PATIENCE, ROOT, VERSION, DevServer,
                     binary, closed_address, expected_version, npm_tarball, ok, run, wait_for,
                     wheel)


# `pip install .` makes a release build: minutes even with its dependencies already built.
RELEASE_BUILD = 30 * 60


def checkout_build_env():
    """The environment for pip's build from the checkout. The dependencies are compiled once
    into a target directory in the cache outside the clone (scripts/cache-dir.sh), so that a
    fresh clone compiles only the crate. The link-time optimisation is left out: this build
    is about pip's PEP 517 path (maturin, build isolation, the tags and entry point); the
    shipping profile's binary is the release wheels' (ReleaseWheels), built and checked
    there."""
    cache = ok(["scripts/cache-dir.sh"], cwd=ROOT).stdout.strip()
    return {**os.environ, "CARGO_TARGET_DIR": f"{cache}/pip-target",
            "CARGO_PROFILE_RELEASE_LTO": "off", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"}


def fresh_venv(name):
    venv = SCRATCH / name
    ok([sys.executable, "-m", "venv", venv])
    return venv


def setUpModule():
    global SCRATCH, SERVER, CLOSED
    SCRATCH = Path(tempfile.mkdtemp(prefix="ts-packages-"))
    SERVER = DevServer(SCRATCH)
    CLOSED = closed_address()


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


def wheel_tags(wheel_file):
    with zipfile.ZipFile(wheel_file) as z:
        text = z.read(f"temporal_supervisor-{VERSION}.dist-info/WHEEL").decode()
    return re.findall(r"^Tag: (.+)$", text, re.M)


def wheel_binary(wheel_file):
    """The binary in the wheel: its zip entry and its bytes."""
    with zipfile.ZipFile(wheel_file) as z:
        info = z.getinfo(f"temporal_supervisor-{VERSION}.data/scripts/temporal-supervisor")
        return info, z.read(info)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class ReleaseWheels(unittest.TestCase, Installed):
    """dist/'s wheels (scripts/cross-build.sh): manylinux2014, x86_64 and aarch64."""

    def test_the_wheels_are_manylinux2014_small_and_say_what_they_are(self):
        for arch in ARCHES:
            with self.subTest(arch):
                tags = [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}"]  # one tag, two names
                self.assertEqual(wheel(arch).name,
                                 f"temporal_supervisor-{VERSION}-py3-none-{'.'.join(tags)}.whl")
                self.assertEqual(wheel_tags(wheel(arch)), [f"py3-none-{tag}" for tag in tags])
                self.assertLess(wheel(arch).stat().st_size, 10 * MIB)
                info, data = wheel_binary(wheel(arch))
                self.assertEqual(info.external_attr >> 16 & 0o777, 0o755)
                # The release profile's binary (stripped, fat LTO), not a debug build's 100+ MiB.
                self.assertLess(info.file_size, 10 * MIB)
                # The same bytes as dist/'s bare binary, which the npm package and image carry.
                self.assertEqual(sha256(data), sha256(binary(arch).read_bytes()))
                self.check_metadata(wheel(arch))

    def check_metadata(self, wheel_file):
        with zipfile.ZipFile(wheel_file) as z:
            metadata = z.read(f"temporal_supervisor-{VERSION}.dist-info/METADATA").decode()
            names = z.namelist()
        headers = metadata.split("\n\n", 1)[0]
        self.assertIn(f"\nVersion: {VERSION}\n", headers)
        self.assertIn(f"\nSummary: {CRATE['description']}\n", headers)
        self.assertIn("Description-Content-Type: text/markdown", headers)
        self.assertIn("# temporal-supervisor", metadata.split("\n\n", 1)[1])
        # The licence, as an SPDX expression (PEP 639), with both texts; nothing that stops an
        # upload.
        self.assertIn(f"\nLicense-Expression: {LICENCE}\n", headers)
        for text in ("LICENSE-MIT", "LICENSE-APACHE"):
            self.assertIn(f"\nLicense-File: {text}\n", headers)
            self.assertIn(f"temporal_supervisor-{VERSION}.dist-info/licenses/{text}", names)
        self.assertNotIn("Private ::", headers)

    def test_pip_install_of_the_x86_64_wheel_into_a_fresh_venv_runs(self):
        venv = fresh_venv("venv-release-wheel")
        ok([venv / "bin/pip", "install", "--no-index", "--disable-pip-version-check",
            wheel("x86_64")])
        self.check_on_path(venv / "bin")
        self.check_binary(venv / "bin/temporal-supervisor")

    def test_pip_takes_the_aarch64_wheel_for_aarch64_only(self):
        venv = fresh_venv("venv-aarch64-wheel")
        refused = run([venv / "bin/pip", "install", "--no-index", "--disable-pip-version-check",
                       wheel("aarch64")])
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("is not a supported wheel on this platform", refused.stderr)
        # From the folder, pip picks this machine's wheel of the two.
        ok([venv / "bin/pip", "install", "--no-index", "--disable-pip-version-check",
            "--find-links", DIST, "temporal-supervisor"])
        self.check_binary(venv / "bin/temporal-supervisor")


class Sums(unittest.TestCase):
    """dist/SHA256SUMS: one line per artifact, `sha256sum -c` checks them all."""

    def test_the_sums_cover_every_artifact_and_match(self):
        artifacts = sorted([*(wheel(arch).name for arch in ARCHES),
                            *(str(binary(arch).relative_to(DIST)) for arch in ARCHES),
                            npm_tarball().name, *(npm_tarball(arch).name for arch in ARCHES)])
        lines = (DIST / "SHA256SUMS").read_text().splitlines()
        self.assertEqual(sorted(line.split("  ", 1)[1] for line in lines), artifacts)
        checked = ok(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=DIST)
        self.assertEqual(checked.stdout.count(": OK\n"), len(artifacts), checked.stdout)


class FromTheCheckout(unittest.TestCase, Installed):
    """The standard PEP 517 path: pip builds with maturin (build isolation, as users get it)."""

    def test_pip_install_from_the_checkout_into_a_fresh_venv_runs(self):
        venv = fresh_venv("venv-checkout")
        ok([venv / "bin/pip", "install", "--disable-pip-version-check", ROOT],
           timeout=RELEASE_BUILD, env=checkout_build_env())
        [info] = (venv / "lib").glob(f"python3*/site-packages/temporal_supervisor-{VERSION}.dist-info")
        # Tagged for this machine only: the release wheels come from `maturin build --zig`.
        self.assertIn("Tag: py3-none-linux_x86_64", (info / "WHEEL").read_text())
        self.check_on_path(venv / "bin")
        self.check_binary(venv / "bin/temporal-supervisor")


def package_json(tarball):
    with tarfile.open(tarball) as t:
        return json.load(t.extractfile("package/package.json")), t.getmembers()


class NpmPackages(unittest.TestCase, Installed):
    """dist/'s npm tarballs: a main package with the launcher, and one package per platform
    (linux-x64, linux-arm64) with the binary."""

    MAIN = npm_tarball()
    PLATFORM = npm_tarball("x86_64")

    def npm_install(self, name, *tarballs, options=()):
        """`npm install` of local tarballs into a fresh folder, offline, with an empty cache:
        anything npm tried to fetch from a registry would fail."""
        folder = SCRATCH / name
        folder.mkdir()
        ok(["npm", "install", "--offline", "--no-audit", "--no-fund", *options, *tarballs],
           cwd=folder, env={**os.environ, "npm_config_cache": str(SCRATCH / f"{name}-npm-cache")})
        return folder

    def test_the_tarballs_hold_the_launcher_and_the_binaries(self):
        main, main_files = package_json(self.MAIN)
        licences = ["package/LICENSE-APACHE", "package/LICENSE-MIT"]
        self.assertEqual(sorted(m.name for m in main_files),
                         [*licences, "package/bin/temporal-supervisor.js", "package/package.json"])
        self.assertEqual((main["name"], main["version"]), ("temporal-supervisor", VERSION))
        self.assertEqual(main["description"], CRATE["description"])
        self.assertEqual(main["bin"], {"temporal-supervisor": "bin/temporal-supervisor.js"})
        self.assertEqual(main["optionalDependencies"],
                         {f"@temporal-supervisor/linux-{a['npm']}": VERSION for a in ARCHES.values()})
        for package in [main]:
            self.check_publishable(package)
        for arch, names in ARCHES.items():
            with self.subTest(arch):
                platform, platform_files = package_json(npm_tarball(arch))
                self.check_publishable(platform)
                self.assertEqual(sorted(m.name for m in platform_files),
                                 [*licences, "package/bin/temporal-supervisor", "package/package.json"])
                self.assertEqual((platform["name"], platform["version"]),
                                 (f"@temporal-supervisor/linux-{names['npm']}", VERSION))
                self.assertEqual((platform["os"], platform["cpu"], platform["libc"]),
                                 (["linux"], [names["npm"]], ["glibc"]))
                with tarfile.open(npm_tarball(arch)) as t:
                    member = t.getmember("package/bin/temporal-supervisor")
                    data = t.extractfile(member).read()
                self.assertEqual(member.mode & 0o777, 0o755)
                self.assertEqual(sha256(data), sha256(binary(arch).read_bytes()))
                self.assertLess(npm_tarball(arch).stat().st_size, 10 * MIB)

    def check_publishable(self, package):
        self.assertEqual(package["license"], LICENCE)
        self.assertNotIn("private", package)
        self.assertNotIn("scripts", package)  # nothing runs, nothing downloads at install

    def test_npm_refuses_the_arm64_package_here_unless_forced(self):
        env = {**os.environ, "npm_config_cache": str(SCRATCH / "npm-refused-npm-cache")}
        refused = run(["npm", "install", "--offline", "--no-audit", "--no-fund", self.MAIN,
                       npm_tarball("aarch64")], cwd=SCRATCH, env=env)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("EBADPLATFORM", refused.stdout + refused.stderr)
        self.assertIn('wanted {"os":"linux","cpu":"arm64","libc":"glibc"}', refused.stderr)
        # As for an arm64 image's files made on an x86_64 machine.
        folder = self.npm_install("npm-arm64", self.MAIN, npm_tarball("aarch64"),
                                  options=["--force"])
        installed = folder / "node_modules/@temporal-supervisor/linux-arm64/bin/temporal-supervisor"
        self.assertEqual(sha256(installed.read_bytes()), sha256(binary("aarch64").read_bytes()))

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
            child = wait_for(lambda: children(proc.pid), "the launcher to start the binary", log)[0]
            self.addCleanup(kill, proc, child)  # when the test fails half-way
            return proc, child

        # SIGUSR1 and SIGTERM to the launcher reach the supervisor: it logs the first, and
        # stops on the second (0: no worker had started).
        proc, child = start("run", "--address", CLOSED, "--max-retries", "0", "--", "sleep", "60")
        wait_for(lambda: "waiting for Temporal" in log.read_text(), "the supervisor to wait", log)
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "SIGUSR1 received with no worker running" in log.read_text(), "SIGUSR1", log)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(PATIENCE), 0, log.read_text())
        self.assertIn("SIGTERM received", log.read_text())
        self.assertFalse(Path(f"/proc/{child}").exists(), "the binary outlived the launcher")

        # The binary killed by a signal: the launcher dies of the same signal.
        proc, child = start("wait", "--address", CLOSED, "--max-retries", "0")
        os.kill(child, signal.SIGKILL)
        self.assertEqual(proc.wait(PATIENCE), -signal.SIGKILL)


def kill(proc, child):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    try:
        os.kill(child, signal.SIGKILL)
    except ProcessLookupError:
        pass


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    unittest.main()
