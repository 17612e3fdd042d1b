"""The admin surface of the fake API: one set of operations, two views of it.

:class:`AdminControls` states each operation once; :class:`FakeVertexApp`,
:class:`FakeVertexServer` and :class:`VertexMock` offer them as methods, and
:func:`answer_admin` serves them over HTTP under ``/_cjob_emu/`` (never subject to faults):

==========  ==========================  ==================================================
``GET``     ``/_cjob_emu/health``       ``{"ok": true}``
``GET``     ``/_cjob_emu/state``        every job (CustomJobs, PipelineJobs), operation,
                                        scripted outcome, fault, setting
``POST``    ``/_cjob_emu/reset``        forget all jobs, outcomes and faults; the
                                        provisioning time as configured
``POST``    ``/_cjob_emu/outcomes``     ``{"result", "polls", "errorCode", "errorMessage",
                                        "displayName", "times"}``: script the next job(s)
``DELETE``  ``/_cjob_emu/outcomes``     drop scripted outcomes
``POST``    ``/_cjob_emu/faults``       ``{"status": 503, "count": 2, "methods": ["get"]}``
``DELETE``  ``/_cjob_emu/faults``       drop faults and latency
``POST``    ``/_cjob_emu/latency``      ``{"seconds": 0.2}`` added to every API call
``POST``    ``/_cjob_emu/force``        ``{"name", "state", "error": {"code", "message"}}``
``POST``    ``/_cjob_emu/provisioning`` ``{"seconds": 0.2}``: how long new jobs read PENDING
``POST``    ``/_cjob_emu/projects``     ``{"projectId": "my-proj", "number": "123"}``
==========  ==========================  ==================================================

Bodies are camelCase (snake_case works too); unknown fields are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from cjob_emu.fake_api.faults import Faults
from cjob_emu.fake_api.kinds import CUSTOM_JOBS, PIPELINE_JOBS, Kind, kind_of
from cjob_emu.fake_api.projects import ProjectNumbers
from cjob_emu.fake_api.rpc import ApiError, not_found
from cjob_emu.fake_api.runner_protocol import JobError
from cjob_emu.fake_api.simulated_runner import (
    Outcome,
    Provisioning,
    ScriptedOutcome,
    SimulatedRunner,
)
from cjob_emu.fake_api.state_files import job_document
from cjob_emu.fake_api.store import JobStore
from cjob_emu.fake_api.wire import Request, Response, json_object, json_response

ADMIN_PREFIX = "/_cjob_emu/"


@dataclass(frozen=True)
class ApiState:
    """What the admin operations of one fake API act on: the job stores by collection
    (``customJobs``, ``pipelineJobs``), the simulated runner, faults and settings."""

    stores: Mapping[str, JobStore]
    simulated: SimulatedRunner
    faults: Faults
    provisioning: Provisioning
    projects: ProjectNumbers

    @property
    def store(self) -> JobStore:
        """The CustomJobs' store."""
        return self.stores[CUSTOM_JOBS.collection]


class AdminControls:
    """The admin operations, on whatever holds an :class:`ApiState`."""

    @property
    def api_state(self) -> ApiState:
        """The state these operations act on."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every job, operation, scripted outcome, fault and latency; put the
        provisioning time back as configured."""
        state = self.api_state
        for store in state.stores.values():
            store.reset()
        state.simulated.clear()
        state.faults.clear()
        state.provisioning.reset()

    def dump(self) -> dict[str, Any]:
        """All state: jobs (REST JSON, mode, run progress) of both kinds, operations,
        outcomes, faults, the provisioning time and the project numbers known."""
        state = self.api_state
        pipelines = state.stores[PIPELINE_JOBS.collection]
        operations = [op for store in state.stores.values() for op in store.operations()]
        return {
            "defaultMode": state.store.default_mode,
            "jobs": [job_document(stored) for stored in state.store.jobs()],
            "pipelineJobs": [job_document(stored) for stored in pipelines.jobs()],
            "operations": [json_format.MessageToDict(op) for op in operations],
            "outcomes": [s.to_dict() for s in state.simulated.scripts()],
            "defaultOutcome": state.simulated.default.to_dict(),
            "faults": state.faults.to_dict(),
            "provisioningSeconds": state.provisioning.seconds,
            "projectNumbers": state.projects.to_dict(),
        }

    def jobs(self) -> list[dict[str, Any]]:
        """Every CustomJob's REST JSON, oldest first, without moving any of them."""
        return [json_format.MessageToDict(stored.job) for stored in self.api_state.store.jobs()]

    def pipeline_jobs(self) -> list[dict[str, Any]]:
        """Every PipelineJob's REST JSON, oldest first, without moving any of them."""
        store = self.api_state.stores[PIPELINE_JOBS.collection]
        return [json_format.MessageToDict(stored.job) for stored in store.jobs()]

    def set_provisioning(self, seconds: float) -> None:
        """New jobs read PENDING for ``seconds`` (0: RUNNING at the first read)."""
        self.api_state.provisioning.set(seconds)

    def set_project_number(self, project_id: str, number: str) -> None:
        """Give project ``project_id`` the number ``number`` (instead of its derived one)."""
        self.api_state.projects.configure(project_id, number)

    def script_outcome(
        self,
        result: str = "succeed",
        *,
        polls: int = 2,
        error_code: int | None = None,
        error_message: str | None = None,
        display_name: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Script how the next ``times`` simulated jobs (matching ``display_name``) end.

        ``result`` is ``succeed``, ``fail`` or ``stay-running``; ``polls`` is the
        GET (after the provisioning time) that finds the job ended; ``error_code``
        defaults to Vertex's for the kind of job; ``times=None`` scripts every matching
        job. CustomJobs and PipelineJobs alike.
        """
        outcome = Outcome(result, polls, error_code, error_message)  # type: ignore[arg-type]
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                                  or times < 1):
            raise ValueError(f"times must be at least 1 (or null for every job), not {times!r}")
        self.api_state.simulated.script(ScriptedOutcome(outcome, display_name, times))

    def clear_outcomes(self) -> None:
        """Drop every scripted outcome (the default outcome stays)."""
        self.api_state.simulated.clear()

    def inject_fault(
        self, status: int, count: int | None = 1, methods: list[str] | None = None
    ) -> None:
        """The next ``count`` API calls (of ``methods``: create, get, list, cancel, delete,
        get_operation and the ``*_pipeline_job(s)`` ones) answer HTTP ``status`` (429, 500,
        503, ...); ``None`` means always."""
        self.api_state.faults.add(status, count, methods)

    def set_latency(self, seconds: float) -> None:
        """Delay every API call by ``seconds`` (0 turns it off)."""
        self.api_state.faults.set_latency(seconds)

    def clear_faults(self) -> None:
        """Drop every injected fault and the latency."""
        self.api_state.faults.clear()

    def force_state(
        self, name: str, state: str | int, error: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Put job ``name`` (a CustomJob or PipelineJob, its project by id or number) in
        ``state`` (``"JOB_STATE_FAILED"``/``"PIPELINE_STATE_FAILED"``, ``"FAILED"`` or 5)
        now and keep it there; the job's REST JSON."""
        kind = kind_of(name) if isinstance(name, str) else None
        if kind is None:
            raise ValueError(f"not a job name: {name!r}")
        number = _job_state(kind, state)
        job_error: JobError | None = None
        if error is not None:
            if not isinstance(error, Mapping):
                raise ValueError("error must be an object {code, message}")
            job_error = (int(error.get("code", 2)), str(error.get("message", "")))
        parts = name.split("/")
        parts[1] = self.api_state.projects.number(parts[1])
        store = self.api_state.stores[kind.collection]
        return json_format.MessageToDict(store.force("/".join(parts), number, job_error))


def _health(controls: AdminControls) -> dict[str, Any]:
    return {"ok": True}


_OUTCOME_FIELDS = {
    "result": "result",
    "polls": "polls",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "displayName": "display_name",
    "times": "times",
}

_ROUTES: dict[tuple[str, str], tuple[Callable[..., Any], Mapping[str, str]]] = {
    # (HTTP method, path after /_cjob_emu/): (operation, body field -> keyword argument)
    ("GET", "health"): (_health, {}),
    ("GET", "state"): (AdminControls.dump, {}),
    ("POST", "reset"): (AdminControls.reset, {}),
    ("POST", "outcomes"): (AdminControls.script_outcome, _OUTCOME_FIELDS),
    ("DELETE", "outcomes"): (AdminControls.clear_outcomes, {}),
    ("POST", "faults"): (AdminControls.inject_fault,
                         {"status": "status", "count": "count", "methods": "methods"}),
    ("DELETE", "faults"): (AdminControls.clear_faults, {}),
    ("POST", "latency"): (AdminControls.set_latency, {"seconds": "seconds"}),
    ("POST", "force"): (AdminControls.force_state,
                        {"name": "name", "state": "state", "error": "error"}),
    ("POST", "provisioning"): (AdminControls.set_provisioning, {"seconds": "seconds"}),
    ("POST", "projects"): (AdminControls.set_project_number,
                           {"projectId": "project_id", "number": "number"}),
}


def answer_admin(controls: AdminControls, request: Request, route: str) -> Response:
    """Serve one admin request; ``route`` is the %-decoded path after ``/_cjob_emu/``.

    Raises :class:`ApiError`: 404 for no such route, 400 for a body the operation refuses.
    """
    body = json_object(request.body, required=False) if request.method == "POST" else {}
    found = _ROUTES.get((request.method, route))
    if found is None:
        raise not_found(f"No admin route {request.method} {ADMIN_PREFIX}{route}.")
    operation, fields = found
    try:
        result = operation(controls, **(_arguments(body, fields) if fields else {}))
    except (TypeError, ValueError) as exc:
        raise ApiError("INVALID_ARGUMENT", f"{request.method} {ADMIN_PREFIX}{route}: {exc}") \
            from None
    return json_response({} if result is None else result)


def _arguments(body: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments from a camelCase (or snake_case) admin body; unknown keys refused."""
    accepted = {**names, **{v: v for v in names.values()}}
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {sorted(names)}")
    return {accepted[k]: v for k, v in body.items()}


def _job_state(kind: Kind, state: str | int) -> int:
    if isinstance(state, bool) or not isinstance(state, (str, int)):
        raise ValueError(f"not a job state: {state!r}")
    try:
        number = kind.state_number(str(state))
    except (KeyError, ValueError, AttributeError):
        number = 0
    if number == 0:
        names = ", ".join(s.name for s in kind.states if int(s) != 0)
        raise ValueError(f"not a job state: {state!r}; one of {names}")
    return number
