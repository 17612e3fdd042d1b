"""A Docker engine of a test's own, to restart or crash without touching the shared one.

Other tests (and other test runs) use the machine's engine at the same time, so the
engine-fault tests never restart it. :class:`PrivateEngine` runs a second ``dockerd``
with its own socket, data root, exec root (and so its own containerd), pid file and
address pool, without a default bridge and without touching iptables (the shared
engine's chains stay its own); user-defined bridge networks still work. Point a
process at it with ``DOCKER_HOST=engine.host``.

Needs root and ``dockerd``; :func:`private_engine_problem` says why not.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

# Far from Docker's default pools (172.17-31/16, 192.168/20), so no route clashes with
# the shared engine's networks; a /16 of its own per engine, for concurrent test runs.
ADDRESS_POOL = "base=10.{octet}.0.0/16,size=24"


def private_engine_problem() -> str | None:
    """Why a private engine cannot run here, or None."""
    if os.geteuid() != 0:
        return "a second dockerd needs root"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed"
    return None


class PrivateEngine:
    """A dockerd under a temporary directory; start, stop (gracefully or not), restart."""

    def __init__(self) -> None:
        # Short: a unix socket path must fit in 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="cjob-pe-", dir="/tmp"))
        self.host = f"unix://{self.root}/docker.sock"
        self.log = self.root / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._octet = random.randint(200, 250)

    def start(self, timeout: float = 60) -> None:
        """Start dockerd and wait until it answers."""
        command = [
            "dockerd",
            f"--host={self.host}",
            f"--data-root={self.root}/data",
            f"--exec-root={self.root}/exec",
            f"--pidfile={self.root}/docker.pid",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            f"--default-address-pool={ADDRESS_POOL.format(octet=self._octet)}",
        ]
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"private dockerd exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"private dockerd did not answer in {timeout}s: {self.tail()}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        """Send ``sig`` to dockerd and wait for it to exit (SIGKILL: a crash).

        Also waits for its containerd to go (it follows dockerd): a dockerd started
        while the old containerd still holds its files times out starting its own.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        process.wait(timeout)
        deadline = time.monotonic() + timeout
        while self._processes("containerd --config"):
            if time.monotonic() > deadline:
                raise RuntimeError("the private engine's containerd did not exit")
            time.sleep(0.1)
        # Its containerd, orphaned, may stay a zombie until init reaps it; a new dockerd
        # takes the pid in containerd.pid for a live containerd and waits for it in vain
        # (systemd would have reaped it at once).
        with contextlib.suppress(FileNotFoundError):
            (self.root / "exec" / "containerd" / "containerd.pid").unlink()

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop with ``sig``, then start again."""
        self.stop(sig)
        self.start()

    def answers(self) -> bool:
        try:
            client = docker.DockerClient(base_url=self.host, timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    def client(self) -> Any:
        return docker.DockerClient(base_url=self.host, timeout=120)

    def load_image(self, tag: str) -> None:
        """Copy ``tag`` from the shared engine into this one (docker save / load)."""
        shared = docker.from_env(timeout=300)
        mine = self.client()
        try:
            data = b"".join(shared.images.get(tag).save(named=True))
            mine.images.load(data)
        finally:
            shared.close()
            mine.close()

    def _processes(self, command: str) -> list[int]:
        """Pids of live processes whose command line has ``command`` and our root."""
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    text = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry.name}/stat") as stat:
                    zombie = stat.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if command in text and str(self.root) in text and not zombie:
                found.append(int(entry.name))
        return found

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Stop dockerd (its containers with it) and remove everything it had."""
        try:
            self.stop(signal.SIGTERM)
        except (subprocess.TimeoutExpired, RuntimeError):
            self.stop(signal.SIGKILL)
        # Container shims of a crashed engine outlive it (ours name our root), and so do
        # the containers' first processes, their children: those first (a container's
        # other processes die with its first one).
        shims = self._processes("")
        for pid in [*_children(shims), *shims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # dockerd leaves its data root mounted on itself (and maybe network namespaces).
        for mount in reversed(_mounts_under(self.root)):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _children(parents: list[int]) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid in parents:
            found.append(int(entry.name))
    return found


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == str(root) or p.startswith(f"{root}/")]
