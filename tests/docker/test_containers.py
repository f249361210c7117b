"""The container story, run for real in a Docker engine of its own (issue 11).

Run with Python's unittest, as the package tests (tests/packages/) are: one runner for all the
container tests, no dependency beyond the Python of .venv. scripts/docker-test.sh installs what
they need (Debian's docker.io, docker-compose, debootstrap) and runs them; as root:

    .venv/bin/python -m unittest discover -v -s tests/docker -t tests/docker
    ... -k Images -k Sidecar -k Networks     # the images' checks and the sidecar's scenario only
                                             # (DOCKER_TEST_ONLY=watch; under 2 minutes warm)

What runs, in this order (load_tests):
 - the engine (stack.py): dockerd on a socket of its own, no bridge, no iptables, no IP
   forwarding; every container uses the host's network and every address is on loopback (free
   ports); no network is ever created (checked). The images are made from the project's own
   files: a local Debian base (debootstrap + docker import: no registry can be reached), the
   project's Dockerfile's runtime stage with the host's debug binary, the example worker image
   from examples/compose/ (the supervisor installed with pip from the release wheel of
   scripts/package.sh, no Rust in it), and a Temporal dev-server image, all cached by content;
 - Images: what the runtime stage and the worker image can be checked for;
 - Sidecar: a worker container and a `temporal-supervisor watch` container that share a
   hostname, as the containers of a pod do, beside a worker of another hostname on the same
   task queue: the worker's healthcheck asks the sidecar and turns healthy once the worker
   polls (the other one's pollers do not count). After the worker is killed the sidecar,
   still running and having started no process, turns not ready within the poller age window
   (90 s): that wait runs in the background, beside the Compose scenarios, and SidecarAfterKill
   collects it;
 - the example Compose stack (examples/compose/docker-compose.yml + tests/docker/
   compose.test.yml) with Debian's docker-compose:
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
import json
import os
import re
import socket
import sys
import threading
import time
import unittest
from datetime import datetime
from pathlib import Path

from helpers import field, get, identities, log_count, log_values, readyz
from stack import (BINARY, FIGURES, NAMESPACE_DELAY, ROOT, SUPERVISOR_IMAGE, TEMPORAL,
                   TEMPORAL_LATE, WORKER_IMAGE, Stack, links, note, print_figures, say,
                   sleep_until, wait_until)

# Each worker of the example: its task queue, a workflow type it serves, its health port's name.
WORKERS = {
    "document-worker": ("documents", "ProcessDocument", "document"),
    "chat-worker": ("chat-sessions", "ChatTurn", "chat"),
    "s3-listener": ("s3-events", "HandleS3Event", "s3"),
    "azure-blob-listener": ("azure-blobs", "HandleBlobEvent", "azure"),
    "webhook-listener": ("webhooks", "HandleWebhook", "webhook"),
}
GRACE = 25  # the workers' --stop-timeout (stop_grace_period is 30 s)
PASSED = set()  # the steps that passed, for those that build on them
STACK = Stack()


def setUpModule():
    STACK.start()


def tearDownModule():
    print_figures()
    STACK.stop()


def check(condition, message):
    """An assertion for code outside a TestCase (the sidecar's background part)."""
    if not condition:
        raise AssertionError(message)


def temporal(*args, address=None, timeout=60):
    return STACK.background.run(
        [TEMPORAL, *args, "--address", address or STACK.address], timeout=timeout)


class Scenario(unittest.TestCase):
    """A scenario's containers (its Compose project's or those it names): their state and
    their logs' last lines are shown when one of its tests fails."""

    project = None
    containers = ()

    def scenario_containers(self):
        names = []
        if self.project:
            names = STACK.docker("ps", "-a", "--filter",
                                 f"label=com.docker.compose.project={self.project}",
                                 "--format", "{{.Names}}").stdout.split()
        return names + [c for c in self.containers if STACK.exists(c)]

    def save_logs(self):
        if not (folder := os.environ.get("DOCKER_TEST_LOGS")):
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        for c in self.scenario_containers():
            out = STACK.docker("logs", "-t", c, check=False)
            Path(folder, f"{c}.log").write_text(out.stdout + out.stderr)

    def run(self, result=None):
        result = result or self.defaultTestResult()
        failed = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > failed and STACK.engine:
            self.save_logs()
            for c in self.scenario_containers():
                state = STACK.inspect(c, "status={{.State.Status}} exit={{.State.ExitCode}} "
                                      "restarts={{.RestartCount}} started={{.State.StartedAt}} "
                                      "health={{if .State.Health}}{{.State.Health.Status}}{{end}}")
                tail = STACK.logs(c).splitlines()[-40:]
                print(f"--- {c}: {state}", *(f"    {line}" for line in tail), sep="\n",
                      file=sys.stderr, flush=True)
        return result

    def after(self, step):
        if step not in PASSED:
            self.skipTest(f"{step} did not pass")


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


# --- the watch sidecar ----------------------------------------------------------------------

POD, OTHER_POD = "ts-watch-pod", "ts-watch-other-pod"
SIDECAR, WORKER, OTHER_WORKER = "ts-watch-sidecar", "ts-watch-worker", "ts-watch-other-worker"
WATCH_TEMPORAL = "ts-watch-temporal"


def sidecar_says(name):
    value = field(readyz(STACK.watch_health_port), name)
    return value if value is None or isinstance(value, str) else json.dumps(value)


def sidecar_ready():
    """`temporal-supervisor status` against the sidecar: what the worker's healthcheck runs."""
    code, _ = STACK.background.run(
        [BINARY, "status", "--health-listen", f"127.0.0.1:{STACK.watch_health_port}"], 30)
    return code == 0


def pollers_of(host):
    """The poller identities on `documents` whose host part is HOST."""
    _, out = temporal("task-queue", "describe", "--task-queue", "documents", "-o", "json",
                      address=f"127.0.0.1:{STACK.watch_port}")
    return [i for i in identities(out) if re.match(rf"^[0-9]+@{re.escape(host)}(@|$)", i)]


class Background:
    """A part of a scenario that runs in a thread beside the others; `result` waits for it and
    raises what it raised. It gives its notes to `note`, printed when it is collected."""

    def __init__(self, part):
        self.notes, self.error = [], None
        self.thread = threading.Thread(target=self.run, args=(part,), daemon=True)
        self.thread.start()

    def run(self, part):
        try:
            part(self.notes.append)
        except BaseException as e:  # raised again by result()
            self.error = e

    def result(self, limit):
        self.thread.join(limit)
        for line in self.notes:
            note(line)
        if self.thread.is_alive():
            raise AssertionError(f"the background part still runs after {limit} s")
        if self.error:
            raise self.error


class Sidecar(Scenario):
    containers = (SIDECAR, WATCH_TEMPORAL, OTHER_WORKER, WORKER)
    after_kill = None

    def test_worker_turns_healthy_once_it_polls(self):
        # A pod's containers share its hostname, and `watch` counts the pollers whose identity
        # names this host (PID@HOST, any pid). Docker 20.10 takes --hostname together with
        # --network host (each container gets a UTS namespace of its own with that name): so
        # the worker and its sidecar get one name, and a worker of another pod on the same
        # task queue another one. Its own dev server: no Compose, no namespace delay.
        say("sidecar: a worker and a `watch` container sharing a hostname, as the containers "
            "of a pod")
        self.assertNotIn(socket.gethostname(), (POD, OTHER_POD), "the host's name")
        health = f"127.0.0.1:{STACK.watch_health_port}"
        watch_address = f"127.0.0.1:{STACK.watch_port}"
        # The sidecar first, as a native sidecar starts before the worker: it waits.
        STACK.run_detached(SIDECAR, "--hostname", POD, SUPERVISOR_IMAGE, "watch", "--address",
                           watch_address, "--health-listen", health, "--task-queue",
                           "documents", "--log-format", "json")
        wait_until(30, "the sidecar to answer while it waits for Temporal",
                   lambda: sidecar_says("state") == "waiting-for-temporal")
        self.assertEqual(get(STACK.watch_health_port, "/startupz")[0], 503,
                         "the sidecar's /startupz before Temporal exists")
        identity = log_values(STACK.logs(SIDECAR),
                              "watching the worker's pollers; starting nothing", "identity")
        self.assertEqual(identity, [f"PID@{POD} or PID@{POD}@*"], "whose pollers it counts")
        STACK.run_detached(WATCH_TEMPORAL, STACK.temporal_image, "server", "start-dev",
                           "--headless", "--ip", "127.0.0.1", "--port", STACK.watch_port,
                           "--http-port", STACK.watch_http_port,
                           "--metrics-port", STACK.watch_metrics_port, "--log-level", "error")
        wait_until(60, "the sidecar's /startupz to answer 200 once Temporal is ready",
                   lambda: get(STACK.watch_health_port, "/startupz")[0] == 200)
        note(f"the sidecar ({POD}) waited for Temporal (/startupz 503), then /startupz 200; it "
             f"counts {identity[0]}")

        # A worker of another pod on the same queue: its pollers do not make this pod ready.
        worker_args = ("--network", "host", "-e", f"TEMPORAL_ADDRESS={watch_address}",
                       "-e", "TEMPORAL_NAMESPACE=default", "--entrypoint", "python")
        STACK.docker("run", "-d", "--name", OTHER_WORKER, "--hostname", OTHER_POD,
                     "--no-healthcheck", *worker_args, WORKER_IMAGE, "document_processing.py")
        wait_until(60, f"the sidecar to see the other pod's poller ({OTHER_POD}) and not count "
                   "it", lambda: re.search(rf"polled by [0-9]+@{OTHER_POD}",
                                           sidecar_says("poller_findings") or ""))
        self.assertFalse(sidecar_ready(), "the sidecar is ready on another pod's poller: "
                         f"{sidecar_says('reason')}")
        note(f"another pod's worker ({OTHER_POD}) polls documents: the sidecar sees it and "
             "stays not ready")

        # This pod's worker, its healthcheck asking the sidecar.
        t_worker = time.monotonic()
        STACK.docker("run", "-d", "--name", WORKER, "--hostname", POD, *worker_args,
                     "--health-cmd", f"temporal-supervisor status --health-listen {health}",
                     "--health-interval", "2s", "--health-timeout", "5s", "--health-retries",
                     "3", WORKER_IMAGE, "document_processing.py")
        wait_until(120, "the worker's container to turn healthy",
                   lambda: STACK.inspect(WORKER, "{{.State.Health.Status}}") == "healthy")
        healthy = time.monotonic() - t_worker
        self.assertRegex(STACK.logs(WORKER), r"(?m)^documents worker [0-9]+ polling$",
                         "the worker never said it polls")
        pollers = pollers_of(POD)
        self.assertTrue(pollers, f"healthy, but Temporal lists no poller of {POD} on documents")
        self.assertEqual(sidecar_says("polling"), "true",
                         "healthy, but the sidecar does not report the worker polling")
        checks = STACK.inspect(WORKER, "{{range .State.Health.Log}}{{.ExitCode}} {{end}}")
        FIGURES["sidecar"] = {"healthy": healthy}
        note(f"the worker's container turned healthy {healthy:.1f} s after its start "
             f"({checks.split().count('1')} checks said not ready first), its poller "
             f"{pollers[0]} listed")
        # The worker dies; the sidecar turns not ready once its poller ages out (about 90 s),
        # while the other scenarios run.
        Sidecar.after_kill = Background(self.sidecar_after_kill)

    def sidecar_after_kill(self, note):
        started = STACK.inspect(SIDECAR, "{{.State.StartedAt}}")
        t_kill = time.monotonic()
        STACK.docker("kill", WORKER)
        wait_until(150, "`status` against the sidecar to turn non-zero after the worker's kill",
                   lambda: not sidecar_ready())
        unready = time.monotonic() - t_kill
        reason = sidecar_says("reason") or ""
        check(re.search(rf"no poller of this worker.*polled by .*@{OTHER_POD}", reason),
              f"the sidecar is not ready for another reason: {reason}")
        check(pollers_of(OTHER_POD), "the other pod's worker no longer polls")
        state = STACK.inspect(SIDECAR, "{{.State.Running}} {{.RestartCount}} {{.State.StartedAt}}")
        check(state == f"true 0 {started}", f"the sidecar did not keep running: {state}")
        check(len(log_values(STACK.logs(SIDECAR), "worker not polling", "worker")) == 1,
              "the sidecar did not log once that the worker stopped polling")
        note(f"after the kill, `status` against the sidecar turned non-zero in {unready:.1f} s "
             "(the other pod's worker still polls)")

        # The sidecar started nothing: one process in its container, without children.
        procs = STACK.docker("top", SIDECAR, "-o", "pid,comm").stdout.splitlines()[1:]
        pid = STACK.inspect(SIDECAR, "{{.State.Pid}}")
        check(len(procs) == 1 and procs[0].split()[0] == pid
              and procs[0].split()[1].startswith("temporal-superv"),
              f"the sidecar's container has other processes: {procs}")
        children = "".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
        check(not children.strip(), f"the sidecar has children: {children}")
        t_stop = time.monotonic()
        STACK.docker("stop", "-t", "10", SIDECAR)
        stopped = time.monotonic() - t_stop
        code = STACK.inspect(SIDECAR, "{{.State.ExitCode}}")
        check(code == "0", f"the sidecar exited {code} on SIGTERM")
        check(log_count(STACK.logs(SIDECAR), "SIGTERM received; exiting") == 1,
              "the sidecar did not log SIGTERM")
        note(f"the sidecar's container had one process (temporal-supervisor, pid {pid} on the "
             f"host, no children); SIGTERM ended it in {stopped:.1f} s with 0")
        self.save_logs()
        STACK.docker("rm", "-f", *self.containers)
        FIGURES["sidecar"].update(unready=unready, stop=stopped, stop_code=code)


class SidecarAfterKill(Scenario):
    containers = Sidecar.containers

    def test_sidecar_turns_not_ready_and_keeps_running(self):
        if Sidecar.after_kill is None:
            self.skipTest("the sidecar's first part did not run")
        say("sidecar: after the worker's kill (run beside the other scenarios)")
        Sidecar.after_kill.result(300)


# --- the example Compose stack --------------------------------------------------------------

class Workflows:
    """One workflow per task queue, run in the background until LIMIT seconds have passed; a
    failed start (namespace not yet known to the frontend, connection refused) is tried again
    with the same workflow id."""

    def __init__(self, label, limit):
        self.label, self.limit, self.done, self.output = label, limit, {}, {}
        self.threads = [threading.Thread(target=self.execute, args=(s,), daemon=True)
                        for s in WORKERS]
        for t in self.threads:
            t.start()

    def execute(self, service):
        queue, workflow, _ = WORKERS[service]
        deadline = time.monotonic() + self.limit
        while (left := deadline - time.monotonic()) > 0:
            code, out = temporal(
                "workflow", "execute", "--namespace", "workers", "--task-queue", queue,
                "--type", workflow, "--workflow-id", f"{self.label}-{service}",
                "--id-conflict-policy", "UseExisting", "--input", f'"{self.label}-{service}"',
                timeout=left + 1)
            self.output[service] = out
            if code == 0 and "COMPLETED" in out:
                self.done[service] = time.monotonic()
                return
            time.sleep(0.5)  # before the next try

    def finish(self):
        """Every workflow completed, or fail."""
        for t in self.threads:
            t.join(self.limit + 30)
        for service, (queue, workflow, _) in WORKERS.items():
            if service not in self.done:
                raise AssertionError(f"no workflow completed on task queue {queue} ({workflow}, "
                                     f"served by {service}):\n{self.output.get(service)}")
        return min(self.done.values()), max(self.done.values())


class ComposeStack(Scenario):
    """The example's stack of a Compose project; its containers are named by Compose v1."""

    extra_files = []

    @classmethod
    def tearDownClass(cls):
        if STACK.engine and not STACK.stopped:
            cls.compose("down", "-v", check=False)

    @classmethod
    def compose(cls, *args, **kw):
        return STACK.compose(cls.project, cls.extra_files, *args, **kw)

    def container(self, service):
        return f"{self.project}_{service}_1"

    def inspect(self, service, fmt):
        return STACK.inspect(self.container(service), fmt)

    def logs(self, service):
        return STACK.logs(self.container(service))

    def readyz(self, service):
        return readyz(getattr(STACK, f"{WORKERS[service][2]}_port"))

    def restarts(self):
        """Container restarts: Docker's restart counts."""
        return sum(int(self.inspect(s, "{{.RestartCount}}")) for s in WORKERS)

    def late_temporal_start(self, label, before_temporal, after_namespace):
        """Workers first; Temporal TEMPORAL_LATE seconds later, its namespace NAMESPACE_DELAY
        seconds after it is SERVING; then one workflow per queue. Gives the workflows' runs,
        the moments Temporal started and its namespace was registered."""
        t_up = time.monotonic()
        self.compose("up", "-d", "--no-deps", "--no-build", *WORKERS)
        STACK.engine.check_networks()
        note(f"workers started; Temporal starts in {TEMPORAL_LATE:g}s")
        sleep_until(t_up + TEMPORAL_LATE - 8)
        before_temporal()
        sleep_until(t_up + TEMPORAL_LATE)
        t_temporal = time.monotonic()
        self.compose("up", "-d", "--no-deps", "temporal-dev-server", "temporal-namespace")
        STACK.engine.check_networks()
        code = STACK.wait_exit(self.container("temporal-namespace"), 180,
                               "registering the namespace")
        self.assertEqual(code, 0, "registering the namespace failed")
        t_namespace = time.monotonic()
        after_namespace()
        note(f"Temporal started at +{t_temporal - t_up:.1f}s, namespace registered at "
             f"+{t_namespace - t_up:.1f}s; running a workflow on each queue")
        return Workflows(label, 300), t_temporal, t_namespace


class ComposeWithSupervisor(ComposeStack):
    project = "tsdocker"

    def crashes(self):
        """Worker processes that ended without being asked to: those the supervisors
        restarted themselves ("exited") plus those that took their container down."""
        exited = (field(self.readyz(s), "restarts_by_reason.exited") for s in WORKERS)
        return self.restarts() + sum(x for x in exited if isinstance(x, int))

    def waiting(self, service):
        doc = self.readyz(service)
        return doc.get("state") == "waiting-for-temporal" and doc.get("child_pid") is None

    def test_1_workers_first_temporal_late(self):
        say(f"scenario 1: the five workers first, Temporal {TEMPORAL_LATE:g}s late")

        def before_temporal():
            for s in WORKERS:
                self.assertEqual(self.inspect(s, "{{.State.Status}} {{.RestartCount}}"),
                                 "running 0", f"{s} before Temporal exists")
                self.assertEqual(self.inspect(s, "{{.State.Health.Status}}"), "starting",
                                 f"{s}'s healthcheck before Temporal exists")
                self.assertTrue(self.waiting(s), f"{s}'s supervisor is not waiting for "
                                f"Temporal: {self.readyz(s)}")
            note("each supervisor waits (state waiting-for-temporal, no worker), containers "
                 "running, health: starting")

        runs, t_temporal, t_namespace = self.late_temporal_start("s1", before_temporal,
                                                                 lambda: None)
        wait_until(180, "every worker's healthcheck to turn healthy", lambda: all(
            self.inspect(s, "{{.State.Health.Status}}") == "healthy" for s in WORKERS))
        t_healthy = time.monotonic()
        first, last = runs.finish()
        for s in WORKERS:
            log = self.logs(s)
            self.assertEqual(self.inspect(s, "{{.RestartCount}}"), "0", f"{s}'s restarts")
            self.assertEqual(self.readyz(s).get("restarts"), 0, f"{s}'s supervisor restarted "
                             f"its worker: {self.readyz(s).get('restarts_by_reason')}")
            self.assertEqual(log_count(log, "worker started"), 1, f"{s}: workers started")
            self.assertNotRegex(log, r"(?m)^Traceback", f"{s}: a worker crashed")
            self.assertTrue(any("namespace" in str(v) for v in
                                log_values(log, "Temporal not ready", "stage")),
                            f"{s}: the supervisor never saw the namespace missing (it should "
                            f"have, for {NAMESPACE_DELAY}s)")
            # The supervisor is PID 1 of its container; the worker is its child.
            pid = self.inspect(s, "{{.State.Pid}}")
            status = Path(f"/proc/{pid}/status").read_text()
            self.assertEqual(re.search(r"^NSpid:.*\s(\d+)$", status, re.M).group(1), "1",
                             f"{s}: the supervisor's pid in its container")
            self.assertTrue(Path(f"/proc/{pid}/comm").read_text().startswith("temporal-superv"),
                            f"{s}: PID 1 is not the supervisor")
            child = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            self.assertTrue(child and Path(f"/proc/{child[0]}/comm").read_text()
                            .startswith("python"), f"{s}: the worker is not the supervisor's child")
            uid = re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{child[0]}/status").read_text(), re.M)
            self.assertEqual(uid.group(1), "10001", f"{s}: the worker's uid")
        FIGURES["s1"] = {"crashes": self.crashes(), "restarts": self.restarts(),
                         "namespace": t_namespace - t_temporal, "first": first - t_temporal,
                         "last": last - t_temporal}
        note("every supervisor saw 'namespace does not exist' first, then started its worker "
             "once")
        note(f"all five healthy at +{t_healthy - t_temporal:.1f}s after Temporal's start; "
             "workflows completed on all five queues")
        note("no crash, no container restart; each supervisor is PID 1, its worker (uid 10001) "
             "its child")
        PASSED.add("scenario 1")

    def test_2_temporal_killed_while_an_activity_runs(self):
        self.after("scenario 1")
        say("scenario 2: the Temporal container is killed while an activity runs, then started "
            "again")
        started_at = {s: self.inspect(s, "{{.State.StartedAt}}") for s in WORKERS}
        old_pid = {s: self.readyz(s).get("child_pid") for s in WORKERS}
        # A scanned document: its text extraction (OCR) takes 8 s, and the server dies meanwhile.
        code, out = temporal("workflow", "start", "--namespace", "workers", "--task-queue",
                             "documents", "--type", "ProcessDocument", "--workflow-id", "s2-scan",
                             "--input", '"scan-s2.pdf"')
        self.assertEqual(code, 0, f"starting the scanned document's workflow: {out}")

        def scan_runs():
            return self.logs("document-worker").count("extracting text from scan-s2.pdf")

        wait_until(60, "the scanned document's activity to start", lambda: scan_runs() == 1)
        t_kill = time.monotonic()
        STACK.docker("kill", self.container("temporal-dev-server"))
        wait_until(90, "every supervisor to lose Temporal and keep its worker", lambda: all(
            (d := self.readyz(s)).get("state") == "temporal-lost"
            and d.get("child_pid") == old_pid[s] for s in WORKERS))
        note(f"every supervisor lost Temporal {time.monotonic() - t_kill:.1f}s after the kill and "
             "kept its worker (/readyz 503, state temporal-lost)")
        sleep_until(time.monotonic() + 3)  # the server stays down a moment
        t_restart = time.monotonic()
        STACK.docker("start", self.container("temporal-dev-server"))
        wait_until(120, "every worker to poll again", lambda: all(
            (d := self.readyz(s)).get("status") == "ok" and d.get("child_pid") == old_pid[s]
            for s in WORKERS))
        t_back = time.monotonic()
        code, scan = temporal("workflow", "result", "--namespace", "workers", "--workflow-id",
                              "s2-scan", timeout=120)
        self.assertIn("scan-s2.pdf: 19 characters", scan, "the scanned document's workflow")
        t_scan = time.monotonic()
        self.assertEqual(scan_runs(), 1, "the scanned document's activity's executions")
        Workflows("s2", 180).finish()
        for s in WORKERS:
            log = self.logs(s)
            self.assertEqual(self.inspect(s, "{{.State.Status}} {{.RestartCount}}"), "running 0",
                             f"{s}'s container restarted")
            self.assertEqual(self.inspect(s, "{{.State.StartedAt}}"), started_at[s],
                             f"{s}'s container was started again")
            self.assertEqual(log_count(log, "Temporal lost;"), 1, f"{s}: 'Temporal lost;'")
            self.assertEqual(log_count(log, "worker started"), 1, f"{s}: workers started")
            self.assertEqual(log_count(log, "worker is polling again"), 1,
                             f"{s}: 'worker is polling again'")
            self.assertEqual(self.readyz(s).get("restarts"), 0, f"{s}'s supervisor restarted "
                             f"its worker: {self.readyz(s).get('restarts_by_reason')}")
        note(f"all five polling again {t_back - t_restart:.1f}s after the server's start, same "
             "worker processes")
        note(f"the scanned document's workflow completed {t_scan - t_kill:.1f}s after the kill, "
             "its activity executed once")
        note("no container restarted (restart counts 0, start times unchanged), no worker "
             "restarted; workflows completed again")
        PASSED.add("scenario 2")

    def test_3_compose_stop(self):
        self.after("scenario 2")
        say("scenario 3: docker-compose stop")
        t_stop, t_stop_mono = time.time(), time.monotonic()
        self.compose("stop")
        note(f"docker-compose stop took {time.monotonic() - t_stop_mono:.1f}s in all")
        for s in WORKERS:
            log = self.logs(s)
            code = int(self.inspect(s, "{{.State.ExitCode}}"))
            took = finished_at(self.inspect(s, "{{.State.FinishedAt}}")) - t_stop
            self.assertEqual(log_count(log, "SIGTERM received: sent SIGTERM to the worker's "
                                       "process group"), 1,
                             f"{s}: the supervisor did not pass SIGTERM to its worker")
            worker_code = log_values(log, "worker exited", "code")[-1]
            self.assertEqual(str(code), str(worker_code),
                             f"{s}: the container's code and the worker's")
            self.assertEqual(code, 0, f"{s}: the worker's clean stop")
            self.assertLess(took, GRACE, f"{s}'s time to stop (grace {GRACE}s)")
            note(f"{s}: SIGTERM passed on, worker exited {worker_code}, container exit {code}, "
                 f"stopped in {took:.1f}s")
        self.save_logs()
        self.compose("down", "-v")


def finished_at(stamp):
    """Docker's RFC 3339 time with nanoseconds, as seconds since the epoch."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


class ComposeWithoutSupervisor(ComposeStack):
    project = "tsseed"
    extra_files = ["tests/docker/compose.seed.yml"]

    def crashes(self):
        """Without the supervisor every end of the worker is its container's end: the
        container's restarts, plus one for each container down now."""
        down = sum(self.inspect(s, "{{.State.Running}}") != "true" for s in WORKERS)
        return self.restarts() + down

    def test_4_without_the_supervisor(self):
        say(f"scenario 4: the same stack without the supervisor (the seed's way), Temporal "
            f"{TEMPORAL_LATE:g}s late")
        runs, t_temporal, t_namespace = self.late_temporal_start(
            "s4", lambda: note(f"before Temporal ({TEMPORAL_LATE:g}s): {self.crashes()} "
                               f"crashes, {self.restarts()} container restarts so far"),
            lambda: note(f"until the namespace existed: {self.crashes()} crashes, "
                         f"{self.restarts()} container restarts"))
        first, last = runs.finish()
        FIGURES["s4"] = {"crashes": self.crashes(), "restarts": self.restarts(),
                         "namespace": t_namespace - t_temporal, "first": first - t_temporal,
                         "last": last - t_temporal}
        for s in WORKERS:
            note(f"{s}: {self.inspect(s, '{{.RestartCount}}')} container restarts, workflow "
                 f"done at +{runs.done[s] - t_temporal:.1f}s")
        self.save_logs()
        self.compose("down", "-v")


# --- last: no network, bridge or interface appeared -----------------------------------------

class Networks(unittest.TestCase):
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
