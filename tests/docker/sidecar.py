"""The watch sidecar: a worker container and a `temporal-supervisor watch` container that share
a hostname, as the containers of a pod do, beside a worker of another hostname on the same task
queue. The part after the worker's kill (the poller age window, about 90 s) runs in the
background beside the Compose scenarios; SidecarAfterKill collects it."""
import json
import re
import socket
import time
from pathlib import Path

from helpers import field, get, identities, log_count, log_values, readyz
from scenario import STACK, Background, Scenario, check, temporal
from stack import BINARY, FIGURES, SUPERVISOR_IMAGE, WORKER_IMAGE, note, say, wait_until

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

