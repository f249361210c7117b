"""What the container tests (test_containers.py) share: one run at a time, the Docker engine of
their own, the images made from the project's files, free loopback ports, waits that poll a
condition with a deadline, and the figures printed at the end.

The engine is tests/packages/docker_engine.py's (Debian's dockerd with its own containerd, no
bridge, no iptables, no IP forwarding, no network ever created), named
temporal-supervisor-docker-test, its data root (the images) in
/var/cache/temporal-supervisor/docker: a warm run builds nothing but what changed.
"""
import atexit
import fcntl
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/packages"))
sys.path.insert(0, str(ROOT / "scripts"))
from docker_engine import DOCKER, Engine  # noqa: E402
from free_ports import free_port  # noqa: E402

import helpers  # noqa: E402

NAME = "temporal-supervisor-docker-test"
LOCK = Path(f"/run/{NAME}.lock")  # one run at a time: a second one would stop the first's engine
CACHE = Path(os.environ.get("TEMPORAL_SUPERVISOR_CACHE", "/var/cache/temporal-supervisor"))
TEMPORAL = ROOT / ".venv/bin/temporal"
# Where cargo built it: target/, or CARGO_TARGET_DIR (CI builds in the cache, .ci/run).
BINARY = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug/temporal-supervisor"
TEMPORAL_LATE = float(os.environ.get("TEMPORAL_LATE", 30))  # seconds the workers run before
#                                   Temporal starts (auto-setup + PostgreSQL take about that)
NAMESPACE_DELAY = os.environ.get("NAMESPACE_DELAY", "5")  # seconds from SERVING to the namespace
BASE_REPO = "temporal-supervisor-test/debian-python"
BINARY_REPO = "temporal-supervisor-test/binary"
TEMPORAL_REPO = "temporal-supervisor-test/temporal"
SUPERVISOR_IMAGE = "temporal-supervisor"
WORKER_IMAGE = "temporal-supervisor-example-worker:local"
FIGURES = {}  # what the scenarios measured, printed at the end (print_figures)
STARTED = time.monotonic()


def say(text):
    print(f"\n\033[1m== [{time.monotonic() - STARTED:.1f}s] {text}\033[0m", flush=True)


def note(text):
    print(f"   {text}", flush=True)


def wait_until(limit, what, cond, interval=0.5):
    """Polls COND every INTERVAL seconds until it gives something true, which it returns;
    fails after LIMIT seconds, naming WHAT it waited for."""
    deadline = time.monotonic() + limit
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(interval)
    return value


def sleep_until(moment):
    """Sleeps until MOMENT (time.monotonic()): for delays that are the scenario itself (Temporal
    started late, a server down for some seconds), never to wait for an event."""
    time.sleep(max(0.0, moment - time.monotonic()))


def take_lock():
    """The lock that keeps runs apart (held until this process ends); waits for another run."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"docker-test: another run holds {LOCK}; waiting for it (at most 20 minutes)",
              file=sys.stderr, flush=True)
        wait_until(20 * 60, f"the other run to release {LOCK}", lambda: _try_lock(fd), 1)
    return fd


def _try_lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def interrupted(*_):
    raise KeyboardInterrupt


def links():
    return sorted(os.listdir("/sys/class/net"))


class Processes:
    """Commands run in the background (workflow runs), ended when the run ends."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()

    def run(self, cmd, timeout):
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        with self.lock:
            self.procs.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        finally:
            with self.lock:
                self.procs.discard(proc)
        return proc.returncode, out

    def end(self):
        with self.lock:
            for proc in self.procs:
                proc.kill()


class Stack:
    """The engine, the images and the ports of one run. `start()` makes it all; `stop()` (also
    at exit, after a failure or Ctrl-C) stops everything it started."""

    def __init__(self):
        self.engine = None
        self.background = Processes()
        self.started = None  # True once made, False when that failed
        self.stopped = False

    # --- the engine ---------------------------------------------------------------------------

    def start(self):
        """Once per run: the first scenario starts it, the others find it started (or fail
        as it did)."""
        if self.started is None:
            self.started = False
            self.make()
            self.started = True
        if not self.started:
            raise RuntimeError("the engine or its images could not be made (see the first error)")

    def make(self):
        self.lock = take_lock()
        atexit.register(self.stop)
        # SIGTERM ends the run as Ctrl-C does (unittest lets KeyboardInterrupt through).
        signal.signal(signal.SIGTERM, interrupted)
        self.links_before = links()
        say(f"engine: dockerd of our own (/run/{NAME}/docker.sock; it waits for "
            "/tmp/docker-engine.lock while the package tests' engine runs)")
        CACHE.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(CACHE / "docker", name=NAME)
        self.env = {**self.engine.env, "COMPOSE_DOCKER_CLI_BUILD": "0",
                    "TS_NAMESPACE_DELAY": NAMESPACE_DELAY}
        self.remove_all()  # an earlier run that was killed: its containers would come back
        note(f"{self.docker('version', '-f', 'dockerd {{.Server.Version}}').stdout.strip()}, "
             f"storage {self.docker('info', '-f', '{{.Driver}}').stdout.strip()}, networks: "
             f"{' '.join(self.docker('network', 'ls', '--format', '{{.Name}}').stdout.split())}")
        self.make_ports()
        self.make_images()

    def stop(self):
        """At exit: the figures, then everything the run started is stopped."""
        if self.stopped or self.engine is None:
            return
        self.stopped = True
        print_figures()
        self.background.end()
        print("\ndocker-test: stopping the containers and the dockerd it started", flush=True)
        self.remove_all()
        self.engine.stop()

    def remove_all(self):
        """Every container and volume of the engine."""
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, check=False)
        self.docker("volume", "prune", "-f", check=False)

    def docker(self, *args, check=True, timeout=600):
        return self.engine.docker(*args, check=check, timeout=timeout)

    def docker_input(self, data, *args):
        """docker ARGS with DATA (a tar archive) on its standard input."""
        out = subprocess.run([DOCKER, *args], input=data, env=self.env,
                             capture_output=True, timeout=600)
        if out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {out.returncode}:\n"
                                 f"{(out.stdout + out.stderr).decode(errors='replace')}")

    def inspect(self, container, fmt):
        return self.docker("inspect", "-f", fmt, container).stdout.strip()

    def logs(self, container):
        out = self.docker("logs", container, check=False)
        return out.stdout + out.stderr

    def exists(self, container):
        return self.docker("inspect", container, check=False).returncode == 0

    def wait_exit(self, container, limit, what):
        """The exit code of CONTAINER, once it has ended; fails after LIMIT seconds."""
        try:
            return int(self.docker("wait", container, timeout=limit).stdout.strip())
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what} did not end within {limit} s") from None

    def run_detached(self, name, *args):
        self.docker("run", "-d", "--name", name, "--network", "host", *args)

    # --- ports --------------------------------------------------------------------------------

    def make_ports(self):
        """The dev server's three and one health port per supervisor; the sidecar scenario's
        dev server's three and the sidecar's."""
        taken = set()
        for name in ("temporal", "temporal_http", "temporal_metrics", "document", "chat", "s3",
                     "azure", "webhook", "watch", "watch_http", "watch_metrics", "watch_health"):
            taken.add(port := free_port(taken))
            setattr(self, f"{name}_port", port)
        self.address = f"127.0.0.1:{self.temporal_port}"

    # --- images -------------------------------------------------------------------------------

    def make_images(self):
        say("images")
        self.base = self.base_image()
        binary_image = self.binary_image()
        # The project's Dockerfile, as `docker build -t temporal-supervisor .`, but with its
        # runtime base and the binary's stage replaced (BuildKit builds only the stages the
        # target needs, so the rust:alpine build stage is skipped).
        self.docker("build", "--quiet", "--network", "host", "--build-arg",
                    f"RUNTIME_IMAGE={self.base}", "--build-arg", f"BINARY_STAGE={binary_image}",
                    "-t", SUPERVISOR_IMAGE, ROOT)
        self.docker("builder", "prune", "-af", check=False)
        note("supervisor: temporal-supervisor (the project's Dockerfile, runtime stage)")
        self.temporal_image = self.dev_server_image()
        self.compose_env = {
            **self.env, "TS_PYTHON_IMAGE": self.base, "TS_TEMPORAL_IMAGE": self.temporal_image,
            **{f"TS_{k.upper()}_PORT": str(getattr(self, f"{k}_port")) for k in (
                "temporal", "temporal_http", "temporal_metrics")},
            **{f"TS_HEALTH_{k.upper()}": str(getattr(self, f"{k}_port")) for k in (
                "document", "chat", "s3", "azure", "webhook")}}
        # The worker image, from examples/compose/Dockerfile.worker as the example's Compose
        # file builds it: the supervisor installed with pip from the wheel in dist/.
        self.compose("tsbuild", [], "build", "document-worker", timeout=1800)
        self.docker("image", "prune", "-f")

    def have(self, image):
        return self.docker("image", "inspect", image, check=False).returncode == 0

    def keep_only(self, repo, tag):
        """Removes the other tags of one of our own repositories."""
        names = self.docker("image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}").stdout
        old = [n for n in names.split() if n != f"{repo}:{tag}"]
        if old:
            self.docker("rmi", *old, check=False)

    def base_image(self):
        """The local Debian base, keyed by its recipe, the archive and the host's extra CA
        certificates (tests/docker/base-image.sh: debootstrap + docker import)."""
        mirror, keyring = helpers.apt_source_and_keyring("bookworm")
        certs = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
        key = hashlib.sha256((HERE / "base-image.sh").read_bytes() + f"{mirror}\n".encode()
                             + b"".join(c.read_bytes() for c in certs)).hexdigest()[:12]
        image = f"{BASE_REPO}:{key}"
        if self.have(image):
            note(f"base: {image} (cached)")
        else:
            subprocess.run([HERE / "base-image.sh", image, mirror, keyring], check=True,
                           env={**self.env, "DOCKER": DOCKER})
        self.keep_only(BASE_REPO, key)
        return image

    def binary_image(self):
        """The host's debug build, stripped of debug information, as an image of one file (it
        is a glibc build: the base has glibc, distroless/static would not)."""
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "temporal-supervisor"
            subprocess.run(["strip", "--strip-debug", "-o", out, BINARY], check=True)
            stripped = out.read_bytes()
        key = hashlib.sha256(stripped).hexdigest()[:12]
        image = f"{BINARY_REPO}:{key}"
        if not self.have(image):
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w") as tar:
                info = tarfile.TarInfo("temporal-supervisor")
                info.size, info.mode = len(stripped), 0o755
                tar.addfile(info, io.BytesIO(stripped))
            self.docker_input(archive.getvalue(), "import", "-", image)
        self.keep_only(BINARY_REPO, key)
        note(f"binary: {image} ({len(stripped) // 2**20} MiB, from {BINARY})")
        return image

    def dev_server_image(self):
        """The Temporal dev server (the CLI of .venv), keyed by its Dockerfile, the CLI and the
        base."""
        dockerfile = HERE / "Dockerfile.temporal"
        digest = hashlib.sha256(dockerfile.read_bytes())
        with open(TEMPORAL, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                digest.update(chunk)
        key = hashlib.sha256(f"{digest.hexdigest()} {self.base}".encode()).hexdigest()[:12]
        image = f"{TEMPORAL_REPO}:{key}"
        if self.have(image):
            note(f"dev server: {image} (cached)")
        else:
            with tempfile.TemporaryDirectory() as context:
                shutil.copy(dockerfile, Path(context) / "Dockerfile")
                shutil.copy(TEMPORAL, Path(context) / "temporal")
                self.docker("build", "--quiet", "--network", "host", "--build-arg",
                            f"BASE_IMAGE={self.base}", "-t", image, context)
            note(f"dev server: {image}")
        self.keep_only(TEMPORAL_REPO, key)
        return image

    # --- Compose ------------------------------------------------------------------------------

    def compose(self, project, extra_files, *args, check=True, timeout=600):
        files = ["examples/compose/docker-compose.yml", "tests/docker/compose.test.yml",
                 *extra_files]
        cmd = ["docker-compose", "-p", project, *(a for f in files for a in ("-f", f)), *args]
        out = subprocess.run(cmd, cwd=ROOT, env=self.compose_env, capture_output=True,
                             text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {out.returncode}:\n"
                                 f"{out.stdout}{out.stderr}")
        return out


def print_figures():
    """The figures of what ran: scenarios 1 and 4 side by side, and the sidecar's."""
    s1, s4, sw = FIGURES.get("s1"), FIGURES.get("s4"), FIGURES.get("sidecar")
    if s1 and s4:
        say(f"figures: the five workers started {TEMPORAL_LATE:g}s before Temporal; "
            f"namespace registered {NAMESPACE_DELAY}s after SERVING")
        print("   (times from Temporal's start)\n")
        print(f"| five workers, Temporal {TEMPORAL_LATE:g}s late | worker crashes | container "
              "restarts | namespace registered | first workflow completed | all five completed |")
        print("|---|---|---|---|---|---|")
        for label, f in (("with temporal-supervisor", s1),
                         ("without (worker as command, restart: on-failure)", s4)):
            print(f"| {label} | {f['crashes']} | {f['restarts']} | {f['namespace']:.1f} s | "
                  f"{f['first']:.1f} s | {f['last']:.1f} s |")
    if sw and "unready" in sw:
        say("figures: a worker and its `watch` sidecar sharing a hostname (another pod's worker "
            "on the same queue)")
        print("\n| worker container healthy after its start | sidecar not ready after the worker "
              "was killed | sidecar stopped by SIGTERM |")
        print("|---|---|---|")
        print(f"| {sw['healthy']:.1f} s | {sw['unready']:.1f} s | {sw['stop']:.1f} s, exit "
              f"{sw['stop_code']} |", flush=True)
