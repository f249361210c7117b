"""The container story, run for real in a Docker engine of its own (issue 11).

Run with Python's unittest, as the package tests (tests/packages/) are: one runner for all the
container tests, no dependency beyond the Python of .venv. scripts/docker-test.sh installs what
they need (Debian's docker.io, docker-compose, debootstrap) and runs them; as root:

    .venv/bin/python -m unittest discover -v -s tests/docker -t tests/docker
    ... -k Images -k Sidecar -k Networks     # the images' checks and the sidecar's scenario only
                                             # (DOCKER_TEST_ONLY=watch; under 2 minutes warm)

What runs, in this order (load_tests):
 - the engine (stack.py; started by the first scenario that runs, scenario.py): dockerd on a
   socket of its own, no bridge, no iptables, no IP forwarding; every container uses the host's
   network and every address is on loopback (free ports); no network is ever created (checked).
   The images are made from the project's own files: a local Debian base (debootstrap + docker
   import: no registry can be reached), the project's Dockerfile's runtime stage with the host's
   debug binary, the example worker image from examples/compose/ (the supervisor installed with
   pip from the release wheel of scripts/package.sh, no Rust in it), and a Temporal dev-server
   image, all cached by content;
 - Images: what the runtime stage and the worker image can be checked for;
 - Sidecar (sidecar.py): a worker container and a `temporal-supervisor watch` container that share a
   hostname, as the containers of a pod do, beside a worker of another hostname on the same
   task queue: the worker's healthcheck asks the sidecar and turns healthy once the worker
   polls (the other one's pollers do not count). After the worker is killed the sidecar,
   still running and having started no process, turns not ready within the poller age window
   (90 s): that wait runs in the background, beside the Compose scenarios, and SidecarAfterKill
   collects it;
 - the example Compose stack (compose_stack.py: examples/compose/docker-compose.yml +
   tests/docker/compose.test.yml) with Debian's docker-compose:
     1. the five workers first, Temporal late: no crash, every healthcheck turns healthy, a
        workflow completes on each task queue;
     2. the Temporal container is killed while a document's 8 s activity runs, and started
        again on its database (a volume): each supervisor keeps its worker, every worker polls
        again, the document's workflow completes with its activity executed once, and
        workflows complete again;
     3. `docker-compose stop`: each worker gets SIGTERM through its supervisor (PID 1), stops
        within the grace period, and the container exits with the worker's code;
     4. the same stack without the supervisor (the seed's way; tests/docker/compose.seed.yml),
        Temporal late again: crashes, container restarts and time to the first workflow;
 - Networks: no Docker network, bridge or interface appeared;
and at the end the figures of 1 and 4 side by side and those of the sidecar. Everything the run
started is stopped, also on failure and Ctrl-C. With DOCKER_TEST_LOGS=DIR every container's log
is kept there.
"""
import re
import unittest
from pathlib import Path

from compose_stack import ComposeWithoutSupervisor, ComposeWithSupervisor
from scenario import STACK, Scenario
from sidecar import Sidecar, SidecarAfterKill
from stack import ROOT, SUPERVISOR_IMAGE, WORKER_IMAGE, links, note, say


# --- the images -----------------------------------------------------------------------------

class Images(Scenario):
    containers = ("ts-image-wait", "ts-image-temporal")

    def in_worker(self, script):
        return STACK.docker("run", "--rm", "--network", "host", "--entrypoint", "sh",
                            WORKER_IMAGE, "-c", script, check=False)

    def test_worker_image_has_the_wheels_binary_and_no_rust(self):
        import hashlib
        import zipfile
        wheels = sorted((ROOT / "dist").glob("temporal_supervisor-*_x86_64.whl"))
        self.assertTrue(wheels, "no x86_64 wheel in dist/ (scripts/package.sh)")
        with zipfile.ZipFile(wheels[0]) as wheel:
            [name] = [n for n in wheel.namelist()
                      if n.endswith(".data/scripts/temporal-supervisor")]
            wheel_sha = hashlib.sha256(wheel.read(name)).hexdigest()
        out = self.in_worker('pip show temporal-supervisor | sed -n "s/^Version: //p"; '
                             'sha256sum "$(command -v temporal-supervisor)"').stdout.split()
        self.assertRegex(out[0], r"^[0-9]", f"pip does not know temporal-supervisor: {out}")
        self.assertEqual(out[1], wheel_sha, "the worker image's temporal-supervisor is not the "
                         "wheel's binary installed by pip")
        rust = self.in_worker("command -v cargo || command -v rustc || "
                              "ls -d /usr/local/cargo /root/.cargo /root/.rustup")
        self.assertNotEqual(rust.returncode, 0, f"the worker image has Rust: {rust.stdout}")
        self.assertEqual(STACK.inspect(WORKER_IMAGE, "{{.Config.User}}"), "10001")
        self.assertEqual(STACK.inspect(WORKER_IMAGE, "{{json .Config.Healthcheck.Test}}"),
                         '["CMD","temporal-supervisor","status"]')
        note(f"worker: {WORKER_IMAGE} (examples/compose/Dockerfile.worker): temporal-supervisor "
             f"{out[0]} installed by pip from {wheels[0].name}, the wheel's binary; no Rust; "
             "user 10001, healthcheck `temporal-supervisor status`")

    def test_runtime_stage_runs_as_non_root(self):
        say("the project's Dockerfile: runtime stage")
        self.assertEqual(STACK.inspect(SUPERVISOR_IMAGE, "{{.Config.User}}"), "65532:65532")
        self.assertEqual(STACK.inspect(SUPERVISOR_IMAGE, "{{json .Config.Entrypoint}}"),
                         '["/usr/local/bin/temporal-supervisor"]')
        self.assertEqual(STACK.inspect(SUPERVISOR_IMAGE, "{{json .Config.Cmd}}"), '["--help"]')
        STACK.docker("run", "--rm", "--network", "host", SUPERVISOR_IMAGE)
        version = STACK.docker("run", "--rm", "--network", "host", SUPERVISOR_IMAGE,
                               "--version").stdout.strip()
        # `wait` from the image, before the server exists, as a non-root process; then the
        # server.
        STACK.run_detached("ts-image-wait", SUPERVISOR_IMAGE, "wait", "--address", STACK.address,
                           "--max-retries", "0")
        pid = STACK.inspect("ts-image-wait", "{{.State.Pid}}")
        uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
        self.assertEqual(uid.groups(), ("65532", "65532"), "the uid/euid of temporal-supervisor")
        STACK.run_detached("ts-image-temporal", STACK.temporal_image, "server", "start-dev",
                           "--headless", "--ip", "127.0.0.1", "--port", STACK.temporal_port,
                           "--http-port", STACK.temporal_http_port,
                           "--metrics-port", STACK.temporal_metrics_port, "--log-level", "error")
        code = STACK.wait_exit("ts-image-wait", 90, "the image's wait")
        self.assertEqual(code, 0, f"the image's wait exited {code}: {STACK.logs('ts-image-wait')}")
        STACK.docker("rm", "-f", *self.containers)
        note(f"{version} at /usr/local/bin/temporal-supervisor, user 65532:65532 (ran as uid "
             "65532), entrypoint and --help ok;")
        note("`wait` from the image waited for a dev server started after it, and exited 0")


# --- last: no network, bridge or interface appeared -----------------------------------------

class Networks(Scenario):
    def test_no_network_bridge_or_interface_appeared(self):
        say("networks")
        STACK.engine.check_networks()
        self.assertEqual(links(), STACK.links_before, "network interfaces")
        note("no docker0, no new interface, Docker networks: host and none only")


ORDER = (Images, Sidecar, ComposeWithSupervisor, ComposeWithoutSupervisor, SidecarAfterKill,
         Networks)


def load_tests(loader, tests, pattern):
    """The classes in the order the story runs (unittest's own is alphabetical)."""
    return unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in ORDER)

