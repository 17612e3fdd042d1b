"""The fake Vertex API as one function from request to response.

:class:`FakeVertexApp` puts the parts together and sends each request to one of
them: the admin surface (:mod:`.admin`, under ``/_cjob_emu/``), Cloud Storage
(:mod:`.storage`, when there is a gs:// root), Resource Manager's ``projects.get``
(:mod:`.projects`, under ``/v3/projects/``) or, after any injected latency and
fault (:mod:`.faults`), the Vertex API methods (:mod:`.vertex_urls` routes,
:mod:`.vertex_responses` answers over a :mod:`.store` per kind of job). The HTTP
server and the ``responses`` mock both call :meth:`FakeVertexApp.handle`, so they
answer byte for byte alike.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote

from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.admin import ADMIN_PREFIX, AdminControls, ApiState, answer_admin
from cjob_emu.fake_api.executor_runner import ExecutorRunner, ExecutorSettings
from cjob_emu.fake_api.faults import Faults
from cjob_emu.fake_api.kinds import CUSTOM_JOBS, PIPELINE_JOBS
from cjob_emu.fake_api.pipeline_runner import PipelineExecutorRunner
from cjob_emu.fake_api.projects import (
    DEFAULT_PROJECT,
    RESOURCE_MANAGER_PREFIX,
    ProjectNumbers,
    answer_resource_manager,
)
from cjob_emu.fake_api.rpc import ApiError
from cjob_emu.fake_api.runner_protocol import Runner
from cjob_emu.fake_api.simulated_runner import (
    DEFAULT_PROVISIONING,
    Outcome,
    Provisioning,
    SimulatedRunner,
)
from cjob_emu.fake_api.storage import STORAGE_PREFIXES, StorageApi
from cjob_emu.fake_api.store import MODES, JobStore
from cjob_emu.fake_api.vertex_responses import VertexResponses
from cjob_emu.fake_api.vertex_urls import route
from cjob_emu.fake_api.wire import Request, Response, error_response

log = logging.getLogger(__name__)


class FakeVertexApp(AdminControls):
    """The fake API: job stores, simulated and executor runners, faults and admin.

    ``mode`` is what jobs run in unless their ``cjob-emu-mode`` label says
    otherwise; ``executor_runner`` provides executor mode for CustomJobs (default: an
    :class:`~cjob_emu.fake_api.executor_runner.ExecutorRunner` with the executor's
    defaults, started on first use); PipelineJobs in executor mode run through the
    local pipeline runner with that runner's settings. With ``state_dir`` the jobs are
    kept on disk and survive a restart. With ``gcs_root`` the same server also answers
    the Cloud Storage JSON API over that directory (see
    :mod:`cjob_emu.fake_api.storage`), and executor-mode jobs use it as their gs://
    root; ``work_dir`` holds their run directories (logs, final job).
    ``provisioning`` is how long a new job reads PENDING (seconds);
    ``project_numbers`` gives projects numbers of your choosing (others get one derived
    from their id); ``default_project`` owns the buckets nobody created through the
    API. The admin operations (:class:`~cjob_emu.fake_api.admin.AdminControls`) are
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
        provisioning: float = DEFAULT_PROVISIONING,
        project_numbers: Mapping[str, str] | None = None,
        default_project: str = DEFAULT_PROJECT,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.provisioning = Provisioning(provisioning)
        self.projects = ProjectNumbers(project_numbers, default_project)
        self.simulated = SimulatedRunner(default_outcome, self.provisioning)
        if executor_runner is None:
            executor_runner = ExecutorRunner(gcs_root=gcs_root, work_dir=work_dir)
        self.executor_runner = executor_runner
        fallback = ExecutorSettings(gcs_root=gcs_root, work_dir=work_dir)
        self.pipeline_runner = PipelineExecutorRunner(
            lambda: getattr(executor_runner, "settings", fallback),
            self.provisioning,
            lambda number: self.projects.project_id(number) or number,
        )
        self.storage: StorageApi | None = None
        if gcs_root is not None:
            self.storage = StorageApi(GcsRoot.at(gcs_root), self._bucket_owner)
        self.store = JobStore({"simulated": self.simulated, "executor": executor_runner},
                              kind=CUSTOM_JOBS, default_mode=mode, state_dir=state_dir)
        self.pipeline_store = JobStore(
            {"simulated": self.simulated, "executor": self.pipeline_runner},
            kind=PIPELINE_JOBS, default_mode=mode, state_dir=state_dir,
        )
        stores = {CUSTOM_JOBS.collection: self.store,
                  PIPELINE_JOBS.collection: self.pipeline_store}
        self.faults = Faults()
        self.vertex = VertexResponses(stores, self.projects)
        self._api_state = ApiState(stores, self.simulated, self.faults, self.provisioning,
                                   self.projects)

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
            if path.startswith(RESOURCE_MANAGER_PREFIX):
                project = path[len(RESOURCE_MANAGER_PREFIX):]
                return answer_resource_manager(self.projects, request, project)
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

    def _bucket_owner(self, project: str | None) -> str:
        """The project number of a bucket's project (``None``: the default project)."""
        return self.projects.number(project or self.projects.default_project)

    def close(self) -> None:
        """Stop real runs; the app answers nothing useful afterwards."""
        self.store.close()
        self.pipeline_store.close()
