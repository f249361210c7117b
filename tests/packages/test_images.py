"""The container images for both architectures, built from the project's Dockerfile as a
release would build them: `docker build --platform linux/ARCH --build-arg
BINARY_STAGE=prebuilt`, the runtime stage taking dist/linux-$TARGETARCH/temporal-supervisor,
in a Docker engine of these tests' own (docker_engine.py: host network only, no bridge).

No registry can be reached, so RUNTIME_IMAGE is a local stand-in for distroless/cc of each
architecture (tests/packages/runtime-base.sh, cached in the engine's data root outside the
clone). Each image says its architecture, holds that architecture's release binary, and runs
as the non-root user: the amd64 one answers `check` against a real dev server on loopback;
the arm64 one too, with qemu-user as its entrypoint (this machine has no binfmt handler for
arm64, so the kernel cannot start it by itself; the binary, the image's loader and libc are
the image's own).

    .venv/bin/python tests/packages/test_images.py -v    (as root)
"""
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
import unittest
from pathlib import Path

from docker_engine import DOCKER, Engine
from support import ARCHES, PATIENCE, ROOT, DevServer, binary, expected_version

QEMU = "/usr/bin/qemu-aarch64-static"
REPO = "temporal-supervisor-test/runtime-base"
DOCKER_ARCHES = {names["docker"]: arch for arch, names in ARCHES.items()}


def setUpModule():
    global SCRATCH, ENGINE, SERVER
    SCRATCH = Path(tempfile.mkdtemp(prefix="ts-images-"))
    cache = Path(subprocess.run([ROOT / "scripts/cache-dir.sh"], check=True, capture_output=True,
                                text=True).stdout.strip())
    ENGINE = Engine(cache / "package-test-docker")
    try:
        for docker_arch in DOCKER_ARCHES:
            base = runtime_base(docker_arch)
            ENGINE.docker("build", "--quiet", "--platform", f"linux/{docker_arch}",
                          "--build-arg", "BINARY_STAGE=prebuilt",
                          "--build-arg", f"RUNTIME_IMAGE={base}",
                          "-t", f"temporal-supervisor:{docker_arch}", ROOT, timeout=PATIENCE * 5)
        ENGINE.docker("builder", "prune", "-af", check=False)
        SERVER = DevServer(SCRATCH)
    except BaseException:
        ENGINE.stop()
        raise


def tearDownModule():
    SERVER.stop()
    ENGINE.stop()
    shutil.rmtree(SCRATCH)


def runtime_base(docker_arch):
    """The stand-in base for DOCKER_ARCH, tagged by its recipe and its packages' versions."""
    recipe = ROOT / "tests/packages/runtime-base.sh"
    versions = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", f"libc6:{docker_arch}", f"libgcc-s1:{docker_arch}"],
        check=True, capture_output=True, text=True).stdout
    key = hashlib.sha256(recipe.read_bytes() + versions.encode()).hexdigest()[:12]
    tag = f"{REPO}:{docker_arch}-{key}"
    if ENGINE.docker("image", "inspect", tag, check=False).returncode != 0:
        subprocess.run([recipe, docker_arch, tag], check=True, env={**ENGINE.env})
    for old in ENGINE.docker("image", "ls", REPO, "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
        if old.startswith(f"{REPO}:{docker_arch}-") and old != tag:
            ENGINE.docker("rmi", old, check=False)
    return tag


def inspect(image, field):
    return ENGINE.docker("image", "inspect", "-f", f"{{{{{field}}}}}", image).stdout.strip()


class Images(unittest.TestCase):
    def test_each_image_says_its_architecture_and_runs_as_nonroot(self):
        for docker_arch in DOCKER_ARCHES:
            with self.subTest(docker_arch):
                image = f"temporal-supervisor:{docker_arch}"
                self.assertEqual(inspect(image, ".Os") + "/" + inspect(image, ".Architecture"),
                                 f"linux/{docker_arch}")
                self.assertEqual(inspect(image, ".Config.User"), "65532:65532")
                self.assertEqual(inspect(image, "json .Config.Entrypoint"),
                                 '["/usr/local/bin/temporal-supervisor"]')
                self.assertEqual(inspect(image, "json .Config.Cmd"), '["--help"]')

    def test_each_image_holds_its_architectures_release_binary(self):
        for docker_arch, arch in DOCKER_ARCHES.items():
            with self.subTest(docker_arch):
                container = ENGINE.docker("create", "--platform", f"linux/{docker_arch}",
                                          f"temporal-supervisor:{docker_arch}").stdout.strip()
                self.addCleanup(ENGINE.docker, "rm", "-f", container, check=False)
                archive = subprocess.run(
                    [DOCKER, "cp", f"{container}:/usr/local/bin/temporal-supervisor", "-"],
                    env=ENGINE.env, check=True, capture_output=True).stdout
                with tarfile.open(fileobj=io.BytesIO(archive)) as t:
                    member = t.getmember("temporal-supervisor")
                    data = t.extractfile(member).read()
                self.assertEqual(hashlib.sha256(data).digest(),
                                 hashlib.sha256(binary(arch).read_bytes()).digest())
                self.assertEqual(member.mode & 0o777, 0o755)

    def check_runs(self, docker_arch, emulator=None):
        """`--version` and `check` in the image, on the host's network, as its user; with
        EMULATOR (mounted from the host) as the entrypoint, the binary its argument."""
        options = ["run", "--rm", "--network", "host", "--platform", f"linux/{docker_arch}"]
        command = [f"temporal-supervisor:{docker_arch}"]
        if emulator:
            options += ["-v", f"{emulator}:{emulator}:ro", "--entrypoint", emulator]
            command += ["/usr/local/bin/temporal-supervisor"]
        version = ENGINE.docker(*options, *command, "--version", timeout=PATIENCE)
        self.assertEqual(version.stdout, expected_version())
        ready = ENGINE.docker(*options, *command, "check", "--address", SERVER.address,
                              check=False, timeout=PATIENCE)
        self.assertEqual(ready.returncode, 0, f"check against the dev server: {ready.stderr}")

    def test_the_amd64_image_runs(self):
        self.check_runs("amd64")

    def test_the_arm64_image_runs_under_qemu(self):
        self.check_runs("arm64", QEMU)

    def test_the_images_have_no_shell(self):
        for docker_arch in DOCKER_ARCHES:
            with self.subTest(docker_arch):
                out = ENGINE.docker("run", "--rm", "--network", "host", "--platform",
                                    f"linux/{docker_arch}", "--entrypoint", "/bin/sh",
                                    f"temporal-supervisor:{docker_arch}", "-c", "true",
                                    check=False, timeout=PATIENCE)
                self.assertNotEqual(out.returncode, 0)


if __name__ == "__main__":
    unittest.main()
