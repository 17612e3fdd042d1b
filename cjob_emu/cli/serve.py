"""``cjob-emu serve``: run the fake Vertex API in the foreground until stopped."""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import TextIO

from cjob_emu.executor.gcs import DEFAULT_ROOT
from cjob_emu.fake_api.executor_runner import ExecutorRunner
from cjob_emu.fake_api.server import FakeVertexServer, UnsafeBindWarning, is_loopback


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mode: str = "simulated",
    state_dir: str | os.PathLike[str] | None = None,
    backend: str = "auto",
    gcs_root: str | os.PathLike[str] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); 0 after a clean stop.

    ``gcs_root`` (default ``./.cjob-emu/gcs``) is served as Cloud Storage and is
    the gs:// root of jobs run in executor mode; ``backend`` and ``work_dir`` are
    for those jobs too (see :func:`cjob_emu.executor.submit`).
    Prints the address first, so scripts can read it from the first line. Binding
    anything but loopback prints a warning banner on ``err`` and says so in ``out``.
    Raises :class:`~cjob_emu.errors.EnvironmentProblem` when the port is in use
    or the host cannot be bound (the CLI's exit 3).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    root = Path(gcs_root) if gcs_root is not None else DEFAULT_ROOT
    executor_runner = ExecutorRunner(backend=backend, gcs_root=root, work_dir=work_dir)
    server = FakeVertexServer(host, port, mode=mode, state_dir=state_dir,
                              executor_runner=executor_runner, gcs_root=root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeBindWarning)  # the banner below says it louder
        server.start()
    stop = stop or threading.Event()
    previous = _on_signals(stop)
    try:
        if not is_loopback(host):
            bar = "!" * 72
            print(
                f"{bar}\nWARNING: listening on {host}, not loopback: any machine that reaches "
                "this one can\ncreate, read and delete jobs. The fake API has no "
                f"authentication.\n{bar}",
                file=err,
                flush=True,
            )
        print(f"cjob-emu fake Vertex API listening on {server.url}", file=out)
        if not is_loopback(host):
            print(f"  WARNING: {host} is not loopback: reachable from other machines, "
                  "no authentication", file=out)
        print("  executor-mode replicas reach it through CJOB_EMU_API_ENDPOINT and "
              "STORAGE_EMULATOR_HOST (docker: on the job network's gateway while it runs)",
              file=out)
        print(f"  mode: {mode}; state: {state_dir or 'in memory'}; admin: {server.url}/_cjob_emu/",
              file=out)
        print(f"  Cloud Storage over {server.gcs_root}: STORAGE_EMULATOR_HOST={server.url}",
              file=out)
        print(
            "  aiplatform.init(project=..., location=\"us-central1\", "
            f"api_endpoint=\"{server.url}\",\n"
            "                  api_transport=\"rest\", credentials=AnonymousCredentials())",
            file=out,
            flush=True,
        )
        stop.wait()
    finally:
        _restore_signals(previous)
        server.stop()
    print("cjob-emu fake Vertex API stopped", file=out, flush=True)
    return 0


def _on_signals(stop: threading.Event) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]
