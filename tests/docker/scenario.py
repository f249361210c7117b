"""What the container scenarios share: the run's Stack (started by the first scenario that
runs, stopped at exit, also after a failure or Ctrl-C, after the figures are printed), a base
TestCase that shows its containers when one of its tests fails, and a part of a scenario run in
the background."""
import os
import sys
import threading
import unittest
from pathlib import Path

from stack import TEMPORAL, Stack, note

PASSED = set()  # the steps that passed, for those that build on them
STACK = Stack()


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

    @classmethod
    def setUpClass(cls):
        STACK.start()

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

