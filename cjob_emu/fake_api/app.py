"""The fake Vertex API as one function from request to response.

:class:`FakeVertexApp` puts the parts together and sends each request to one of
them: the admin surface (:mod:`.admin`, under ``/_cjob_emu/``), Cloud Storage
(:mod:`.storage`, when there is a gs:// root) or, after any injected latency and
fault (:mod:`.faults`), the Vertex API methods (:mod:`.vertex_urls` routes,
:mod:`.vertex_responses` answers over the :mod:`.store`). The HTTP server and the
``responses`` mock both call :meth:`FakeVertexApp.handle`, so they answer byte for
byte alike.
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import unquote

from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.admin import ADMIN_PREFIX, AdminControls, ApiState, answer_admin
from cjob_emu.fake_api.executor_runner import ExecutorRunner
from cjob_emu.fake_api.faults import Faults
from cjob_emu.fake_api.rpc import ApiError
from cjob_emu.fake_api.runner_protocol import Runner
from cjob_emu.fake_api.simulated_runner import Outcome, SimulatedRunner
from cjob_emu.fake_api.storage import STORAGE_PREFIXES, StorageApi
from cjob_emu.fake_api.store import MODES, JobStore
from cjob_emu.fake_api.vertex_responses import VertexResponses
from cjob_emu.fake_api.vertex_urls import route
from cjob_emu.fake_api.wire import Request, Response, error_response

log = logging.getLogger(__name__)


class FakeVertexApp(AdminControls):
    """The fake API: a job store, simulated and executor runners, faults and admin.

    ``mode`` is what jobs run in unless their ``cjob-emu-mode`` label says
    otherwise; ``executor_runner`` provides executor mode (default: an
    :class:`~cjob_emu.fake_api.executor_runner.ExecutorRunner` with the executor's
    defaults, started on first use). With ``state_dir`` the jobs are kept on
    disk and survive a restart. With ``gcs_root`` the same server also answers
    the Cloud Storage JSON API over that directory (see
    :mod:`cjob_emu.fake_api.storage`), and executor-mode jobs use it as their
    gs:// root; ``work_dir`` holds their run directories (logs, final job).
    The admin operations (:class:`~cjob_emu.fake_api.admin.AdminControls`) are
    methods of the app too.
    """

    def __init__(
        self,
        *,
        mode: str = "simulated",
        state_dir: str | os.PathLike[str] | None = None,
        default_outcome: Outcome | None = None,
        executor_runner: Runner | None = None,
        gcs_root: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.simulated = SimulatedRunner(default_outcome)
        if executor_runner is None:
            executor_runner = ExecutorRunner(gcs_root=gcs_root, work_dir=work_dir)
        self.executor_runner = executor_runner
        self.storage: StorageApi | None = None
        if gcs_root is not None:
            self.storage = StorageApi(GcsRoot.at(gcs_root))
        runners: dict[str, Runner] = {"simulated": self.simulated, "executor": executor_runner}
        self.store = JobStore(runners, default_mode=mode, state_dir=state_dir)
        self.faults = Faults()
        self.vertex = VertexResponses(self.store)
        self._api_state = ApiState(self.store, self.simulated, self.faults)

    @property
    def api_state(self) -> ApiState:
        return self._api_state

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises, and bad input never answers 500."""
        try:
            path = unquote(request.path)
            if path.startswith(ADMIN_PREFIX):
                return answer_admin(self, request, path[len(ADMIN_PREFIX):])
            if self.storage is not None and path.startswith(STORAGE_PREFIXES):
                return self.storage.handle(request, path)
            if self.faults.latency:
                time.sleep(self.faults.latency)
            method, params = route(request.method, path)
            fault = self.faults.take(method)
            if fault is not None:
                raise fault
            return self.vertex.answer(method, request, params)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:  # a bug of ours: still answer in google.rpc shape
            log.exception("cjob-emu fake API failed on %s %s", request.method, request.path)
            error = ApiError("INTERNAL", f"cjob-emu internal error: {type(exc).__name__}: {exc}")
            return error_response(error)

    def close(self) -> None:
        """Stop real runs; the app answers nothing useful afterwards."""
        self.store.close()
