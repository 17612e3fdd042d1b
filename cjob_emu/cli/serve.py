"""``cjob-emu serve``: the fake Vertex API (and Cloud Storage) in the foreground until stopped."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from cjob_emu.fake_api.server import FakeVertexServer


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "serve", help="run the fake Vertex API (and Cloud Storage) on a local port"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any address but loopback is reachable "
        "from other machines and is warned about: the fake API has no authentication",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
    parser.add_argument("--mode", choices=["simulated", "executor"], default="simulated")
    parser.add_argument("--state-dir", help="keep jobs in DIR so they survive a restart")
    parser.add_argument(
        "--gcs-root",
        help="served as Cloud Storage and the gs:// root of executor jobs "
        "(default ./.cjob-emu/gcs)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "docker", "process"],
        default="auto",
        help="for executor-mode jobs",
    )
    parser.add_argument("--work-dir", help="run directories of executor-mode jobs")
    parser.add_argument(
        "--provisioning",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a new job reads PENDING, as on Vertex (default 0.2)",
    )
    # the global --quiet (cli.main) also silences the request and job-state lines
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    return serve(
        host=args.host,
        port=args.port,
        mode=args.mode,
        state_dir=args.state_dir,
        backend=args.backend,
        gcs_root=args.gcs_root,
        work_dir=args.work_dir,
        log=not args.quiet,
        provisioning=args.provisioning,
    )


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
    log: bool = False,
    provisioning: float | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); 0 after a clean stop.

    ``gcs_root`` (default ``./.cjob-emu/gcs``) is served as Cloud Storage and is
    the gs:// root of jobs run in executor mode; ``backend`` and ``work_dir`` are
    for those jobs too (see :func:`cjob_emu.executor.submit`).
    With ``log``, each request (method, path, status, milliseconds) and each job's
    state change is one line on ``err``.
    Prints the address first, so scripts can read it from the first line. Binding
    anything but loopback prints a warning banner on ``err`` and says so in ``out``.
    Raises :class:`~cjob_emu.errors.EnvironmentProblem` when the port is in use
    or the host cannot be bound (the CLI's exit 3).
    """
    # imported on use: the server loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.executor.gcs import DEFAULT_ROOT
    from cjob_emu.fake_api.executor_runner import ExecutorRunner
    from cjob_emu.fake_api.server import FakeVertexServer, UnsafeBindWarning, is_loopback
    from cjob_emu.fake_api.simulated_runner import DEFAULT_PROVISIONING

    out = out or sys.stdout
    err = err or sys.stderr
    root = Path(gcs_root) if gcs_root is not None else DEFAULT_ROOT
    executor_runner = ExecutorRunner(backend=backend, gcs_root=root, work_dir=work_dir)
    activity = _Activity(err) if log else None
    server = FakeVertexServer(host, port, mode=mode, state_dir=state_dir,
                              executor_runner=executor_runner, gcs_root=root,
                              on_request=activity.request if activity else None,
                              provisioning=DEFAULT_PROVISIONING if provisioning is None
                              else provisioning)
    if activity is not None:
        activity.store = server.app.store
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
        _say_where(server, host, mode, state_dir, out, loopback=is_loopback(host))
        if activity is None:
            stop.wait()
        else:
            # executor-mode jobs change state between requests too
            while not stop.wait(0.5):
                activity.states()
    finally:
        _restore_signals(previous)
        server.stop()
    print("cjob-emu fake Vertex API stopped", file=out, flush=True)
    return 0


def _say_where(
    server: FakeVertexServer,
    host: str,
    mode: str,
    state_dir: str | os.PathLike[str] | None,
    out: TextIO,
    *,
    loopback: bool,
) -> None:
    """The first lines: where the server listens (the first line's last word is its URL)
    and how to point the SDK and replicas at it."""
    print(f"cjob-emu fake Vertex API listening on {server.url}", file=out)
    if not loopback:
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


class _Activity:
    """The serve log: one line per request, one per job state change seen (after a
    request, or while watching between them)."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._lock = threading.Lock()
        self._states: dict[str, int] = {}
        self.store: Any = None

    def request(self, method: str, path: str, status: int, ms: float) -> None:
        with self._lock:
            self._say(f"{method} {path} {status} {ms:.0f}ms")
        self.states()

    def states(self) -> None:
        """Say each job state change since the last look."""
        # imported on use, as the server is: `cjob-emu --help` loads no aiplatform module
        from google.cloud.aiplatform_v1 import JobState

        if self.store is None:
            return
        with self._lock:
            seen = {}
            for stored in self.store.jobs():
                job = stored.job
                seen[job.name] = job.state
                if self._states.get(job.name) != job.state:
                    state = JobState(job.state).name
                    self._say(f"job {job.name} ({job.display_name!r}): {state}")
            for name in self._states.keys() - seen.keys():
                self._say(f"job {name}: deleted")
            self._states = seen

    def _say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self._err, flush=True)


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
