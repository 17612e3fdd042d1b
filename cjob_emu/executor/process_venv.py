"""The virtual environment every process-backend run gets, so replicas never change the host.

On Vertex a replica's ``pip install`` changes only its own container; a host process
would change the host's Python (``CustomJob.from_local_script`` with a custom image runs
``pip install --upgrade pip && pip3 install --user PACKAGE`` first). So each run gets
``<run_dir>/venv`` (made in a few milliseconds, without pip of its own):

- the packages of the Python running cjob-emu stay importable (a ``.pth`` file names
  its site-packages), as an image's frameworks are;
- ``<venv>/bin`` comes first on every replica's PATH: ``python``, ``python3``, ``pip``
  and ``pip3`` are the venv's, and pip there installs into the venv (an upgrade of a
  package from outside it is installed beside it, never over it);
- ``PYTHONUSERBASE`` is ``<run_dir>/userbase``, so ``pip install --user`` lands in the
  run too, and the user's own ``~/.local`` packages do not leak into replicas.

A program that names another interpreter by its full path (``/usr/bin/python3 -m pip``)
is not redirected: the process backend isolates nothing else either; use docker for that.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Mapping
from pathlib import Path

from cjob_emu.errors import EnvironmentProblem

USER_BASE = "userbase"
"""Directory of the run dir that ``pip install --user`` of a replica installs into."""

_PIP_SHIM = '#!/bin/sh\nexec "{python}" -m pip "$@"\n'


class RunVenv:
    """The virtual environment of one run, at ``<run_dir>/venv``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "venv"
        self.bin = self.path / "bin"
        self.python = self.bin / "python"

    def create(self) -> RunVenv:
        """Make the venv (once): the host's packages visible, pip commands redirected."""
        if self.python.exists():
            return self
        try:
            self._make()
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot make the run's virtual environment at {self.path}: {exc}"
            ) from exc
        return self

    def _make(self) -> None:
        venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(
            self.path
        )
        purelib = Path(
            sysconfig.get_path("purelib", vars={"base": str(self.path), "platbase": str(self.path)})
        )
        purelib.mkdir(parents=True, exist_ok=True)
        # addsitedir also reads the .pth files there (editable installs, namespaces).
        lines = [f"import site; site.addsitedir({p!r})\n" for p in _host_site()]
        (purelib / "_cjob_emu_host.pth").write_text("".join(lines))
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        for name in ("pip", "pip3", f"pip{version}"):
            shim = self.bin / name
            shim.write_text(_PIP_SHIM.format(python=self.python))
            shim.chmod(0o755)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with the venv first on PATH and ``PYTHONUSERBASE`` in the run."""
        result = dict(env)
        path = result.get("PATH") or os.defpath
        result["PATH"] = f"{self.bin}{os.pathsep}{path}"
        result.setdefault("PYTHONUSERBASE", str(self.run_dir / USER_BASE))
        return result

    def install(self, packages: list[str]) -> None:
        """``pip install`` the packages into the venv; EnvironmentProblem with the log's tail."""
        started = time.monotonic()
        log = self.run_dir / "pip-install.log"
        command = [
            sys.executable, "-m", "pip", "--python", str(self.python), "install",
            "--no-input", "--disable-pip-version-check", "--quiet", *packages,
        ]  # fmt: skip
        with open(log, "w") as output:
            result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            raise EnvironmentProblem(
                f"installing the Python package(s) {', '.join(packages)} failed "
                f"after {time.monotonic() - started:.0f}s (log: {log}):\n" + "\n".join(tail)
            )


def _host_site() -> list[str]:
    """The site-packages of the Python running cjob-emu (a venv's own, then its base's)."""
    found = [*site.getsitepackages(), *sysconfig.get_paths().values()]
    return [p for p in dict.fromkeys(found) if p.endswith("-packages") and os.path.isdir(p)]
