"""The example Compose stack (examples/compose/docker-compose.yml + tests/docker/
compose.test.yml) with Debian's docker-compose: scenarios 1 to 3 with the supervisor, 4 without
it (tests/docker/compose.seed.yml)."""
import re
import threading
import time
from datetime import datetime
from pathlib import Path

from helpers import field, log_count, log_values, readyz
from scenario import PASSED, STACK, Scenario, temporal
from stack import FIGURES, NAMESPACE_DELAY, TEMPORAL_LATE, note, say, sleep_until, wait_until

WORKERS = {
    "document-worker": ("documents", "ProcessDocument", "document"),
    "chat-worker": ("chat-sessions", "ChatTurn", "chat"),
    "s3-listener": ("s3-events", "HandleS3Event", "s3"),
    "azure-blob-listener": ("azure-blobs", "HandleBlobEvent", "azure"),
    "webhook-listener": ("webhooks", "HandleWebhook", "webhook"),
}
GRACE = 25  # the workers' --stop-timeout (stop_grace_period is 30 s)


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
