"""Podman as this project drives it: its configuration, its CLI, and its Docker-API socket.

Podman runs containers without a daemon, but Compose (and python-on-whales' compose) talk
the Docker API, which `podman system service` serves on a unix socket.  `Podman` is the
one place that knows how:

- `containers_conf()`: a containers.conf of ours, used unless `CONTAINERS_CONF` is set:
  the `runc` runtime where it is installed (crun cannot set up containers on some kernels:
  cgroups in hybrid mode) and default ulimits no higher than this process's own, and
  bounded (a container asking for more fails with "setrlimit: Operation not permitted").
- `run()`: the podman CLI with that configuration, bounded by a timeout.
- `ensure_service()`: the API socket.  An answering one is used as it is (`CONTAINER_HOST`,
  then podman's standard path, where systemd's podman.socket listens); otherwise the service
  is started, detached, on that path with our configuration, and its pid recorded beside it
  so that `stop_service()` stops only a service we started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineUnavailable
from ..storage import update_text
from .processes import run_tool

__all__ = ["Podman", "containers_conf", "default_socket"]

log = logging.getLogger("mpc_lib.stack")

_SERVICE_WAIT_S = 15.0
_PID_FILE = "mpc-workbench-service.pid"
# Per-container ulimits: at most this process's own soft limits, and at most these (an
# nproc of this machine's 96,367 failed in runc with "error setting rlimit type 6", 16,384
# worked; 4,096 processes and 65,536 files are plenty for every service of the stack).
_NOFILE_CAP = 65_536
_NPROC_CAP = 4_096


def default_socket() -> Path:
    """Where podman's API socket is by convention: /run/podman as root, else the user's."""
    if os.geteuid() == 0:
        return Path("/run/podman/podman.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return Path(runtime) / "podman" / "podman.sock"


def containers_conf() -> str:
    """containers.conf text: runc when installed, ulimits within this process's limits."""
    lines = ["# Written by mpc-workbench for the podman it runs (CONTAINERS_CONF).", "[containers]"]
    limits = []
    for name, which, cap in (
        ("nofile", resource.RLIMIT_NOFILE, _NOFILE_CAP),
        ("nproc", resource.RLIMIT_NPROC, _NPROC_CAP),
    ):
        soft, _hard = resource.getrlimit(which)
        value = cap if soft == resource.RLIM_INFINITY else min(soft, cap)
        limits.append(f'"{name}={value}:{value}"')
    lines.append(f"default_ulimits = [{', '.join(limits)}]")
    if shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Podman:
    """The podman CLI with our configuration (`conf_dir` holds the containers.conf)."""

    conf_dir: Path
    socket_path: Path | None = None

    @property
    def cli(self) -> str:
        """The podman executable; EngineUnavailable when it is not installed."""
        found = shutil.which("podman")
        if found is None:
            raise EngineUnavailable(
                "podman is not installed (Debian: apt-get install podman runc, "
                "or `mpc stack images --install`)"
            )
        return found

    @property
    def socket(self) -> Path:
        """The API socket this podman serves (or will)."""
        return self.socket_path or default_socket()

    @property
    def host(self) -> str:
        """The socket as a DOCKER_HOST value."""
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """The environment podman runs with: ours, plus CONTAINERS_CONF unless the user set one."""
        env = dict(os.environ)
        if "CONTAINERS_CONF" not in env:
            conf = self.conf_dir / "containers.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            update_text(conf, containers_conf())
            env["CONTAINERS_CONF"] = str(conf)
        return env

    def run(
        self, argv: Sequence[str], *, timeout_s: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        """`podman <argv>`; StackError naming the command and podman's last words on failure."""
        return run_tool([self.cli, *argv], f"podman {' '.join(argv[:2])}",
                        timeout_s=timeout_s, env=self.env())  # fmt: skip

    def image_exists(self, ref: str) -> bool:
        """Whether `ref` is in podman's local storage."""
        done = subprocess.run(
            [self.cli, "image", "exists", ref], env=self.env(), capture_output=True, check=False
        )
        return done.returncode == 0

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names in podman's local storage, None when there is none."""
        done = subprocess.run(
            [self.cli, "image", "inspect", "--format", "{{.Id}}", ref],
            env=self.env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return None
        return done.stdout.strip() or None

    def remove_if_untagged(self, image_id: str) -> bool:
        """Remove image `image_id` when no tag names it any more (a build replaced it) and no
        container uses it; whether it went."""
        tags = subprocess.run(
            [self.cli, "image", "inspect", "--format", "{{len .RepoTags}}", image_id],
            env=self.env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        if tags.returncode != 0 or tags.stdout.strip() != "0":
            return False
        done = subprocess.run(
            [self.cli, "rmi", image_id], env=self.env(), capture_output=True, check=False
        )
        return done.returncode == 0

    def run_healthchecks(self, project: str) -> int:
        """Run the healthcheck of every running container of compose project `project` once.

        Podman schedules healthchecks with systemd timers; without systemd nothing runs them,
        a container stays "starting" for ever and compose's `service_healthy` waits for
        ever.  Whoever waits on health calls this instead (see `needs_health_driver`).
        Returns how many containers were checked.
        """
        listed = subprocess.run(
            [self.cli, "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            env=self.env(), capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        ids = listed.stdout.split()
        for container in ids:
            # exit 1 is "unhealthy" (recorded by podman), 125 "no healthcheck": both fine here
            subprocess.run(
                [self.cli, "healthcheck", "run", container],
                env=self.env(), capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        return len(ids)

    @staticmethod
    def needs_health_driver() -> bool:
        """Whether podman's healthchecks need us to run them (no systemd on this machine)."""
        return not Path("/run/systemd/system").is_dir()

    # --- the Docker-API service --------------------------------------------------------------

    def answers(self) -> bool:
        """Whether something accepts connections on the socket."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(2.0)
        try:
            probe.connect(str(self.socket))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def ensure_service(self) -> str:
        """The API socket's DOCKER_HOST, starting `podman system service` when none answers."""
        if self.answers():
            return self.host
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # a stale socket of a service that is gone
        log_path = self.socket.parent / "mpc-workbench-service.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [self.cli, "system", "service", "--time=0", self.host],
                env=self.env(), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                start_new_session=True,
            )  # fmt: skip
        (self.socket.parent / _PID_FILE).write_text(str(process.pid), encoding="utf-8")
        deadline = time.monotonic() + _SERVICE_WAIT_S
        while not self.answers():
            if process.poll() is not None:
                raise EngineUnavailable(
                    f"podman system service exited ({process.returncode}); see {log_path}"
                )
            if time.monotonic() > deadline:
                raise EngineUnavailable(
                    f"podman system service: no socket at {self.socket} "
                    f"after {_SERVICE_WAIT_S:g} s; see {log_path}"
                )
            time.sleep(0.05)
        log.info("stack: started podman system service on %s (pid %d)", self.socket, process.pid)
        return self.host

    def stop_service(self) -> bool:
        """Stop the API service if we started it (its pid recorded beside the socket)."""
        pid_file = self.socket.parent / _PID_FILE
        try:
            pid = int(pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return False
        pid_file.unlink(missing_ok=True)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reaped, when this process started it
                os.waitpid(pid, os.WNOHANG)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True
