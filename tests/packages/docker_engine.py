"""A Docker engine of the package tests' own (Debian's docker.io), as scripts/docker-test.sh
runs one: its own socket, exec root and pid file under /run, its data root (images) in the
project's cache outside the clone, and no bridge, no iptables, no IP forwarding: containers use
the host's network, every address is on loopback, and no network is ever created (checked
when it starts and when it stops).

dockerd runs under `flock /tmp/docker-engine.lock`, so that it never runs beside another
engine started the same way (another engineer's, another test's): a start waits for the lock.
Its containerd is dockerd's own (started and stopped by it). tests/docker/ runs one too, under
a name of its own (its folder under /run).
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DOCKER = "/usr/bin/docker"  # Debian's client, for Debian's daemon
LOCK = "/tmp/docker-engine.lock"
NAME = "temporal-supervisor-package-test"


class Engine:
    def __init__(self, data_root, patience=120, name=NAME):
        self.run_dir = Path("/run") / name
        self.socket = self.run_dir / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                    "DOCKER_CONFIG": str(self.run_dir / "client"), "DOCKER_BUILDKIT": "1"}
        self.stop_stale()
        (self.run_dir / "client").mkdir(parents=True)
        self.log_path = self.run_dir / "dockerd.log"
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["flock", "--wait", str(20 * 60), LOCK,
             "dockerd", "--host", f"unix://{self.socket}", "--exec-root", self.run_dir / "exec",
             "--pidfile", self.run_dir / "dockerd.pid", "--data-root", data_root,
             "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             "--ip-masq=false", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20 * 60 + patience  # the lock, then the start
        while self.docker("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not start: {self.log_path.read_text()}")
            time.sleep(0.2)
        try:
            self.check_networks()
        except AssertionError:
            self.stop()
            raise

    def docker(self, *args, check=True, timeout=600, **kw):
        out = subprocess.run([DOCKER, *map(str, args)], env=self.env, capture_output=True,
                             text=True, timeout=timeout, **kw)
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {out.returncode}:\n"
                                 f"{out.stdout}{out.stderr}")
        return out

    def check_networks(self):
        """Only Docker's built-in host and none; no docker0 bridge."""
        names = sorted(self.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
        if names != ["host", "none"]:
            raise AssertionError(f"unexpected Docker networks: {names}")
        if Path("/sys/class/net/docker0").exists():
            raise AssertionError("a docker0 bridge exists")

    def dockerd_pid(self):
        """dockerd's pid from its pid file, if that process is still a dockerd."""
        try:
            pid = int((self.run_dir / "dockerd.pid").read_text())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            return None
        return pid if comm == "dockerd" else None

    def stop(self):
        """Removes the containers, stops dockerd (which stops its containerd), and with it
        the flock holding the lock; nothing of this run stays under /run."""
        problem = None
        if self.socket.exists() and self.docker("version", check=False).returncode == 0:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            try:
                self.check_networks()
            except AssertionError as e:
                problem = e  # said once the engine is stopped
        pid = self.dockerd_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            if pid:
                os.kill(pid, signal.SIGKILL)
            self.proc.wait(30)
        self.remove_run_dir()
        if problem:
            raise problem

    def stop_stale(self):
        """What a killed earlier run of these tests may have left: its dockerd, its folder."""
        pid = self.dockerd_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        self.remove_run_dir()

    def remove_run_dir(self):
        if not self.run_dir.exists():
            return
        mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                text=True).stdout.split()
        for mount in sorted((m for m in mounts if m.startswith(f"{self.run_dir}/")), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(self.run_dir, ignore_errors=True)
