"""The fake Vertex API as one function from request to response.

:class:`FakeVertexApp` knows the routes of ``projects.locations.customJobs``
(v1 and v1beta1), the operation polls (also under ``/ui/``), proto3 JSON in and
out, and the google.rpc error shape. The HTTP server and the ``responses`` mock
both call :meth:`FakeVertexApp.handle`, so they answer byte for byte alike.

The admin surface lives under ``/_cjob_emu/`` (never subject to faults):

==========  ==========================  ==================================================
``GET``     ``/_cjob_emu/health``       ``{"ok": true}``
``GET``     ``/_cjob_emu/state``        every job, operation, scripted outcome and fault
``POST``    ``/_cjob_emu/reset``        forget all jobs, outcomes and faults
``POST``    ``/_cjob_emu/outcomes``     ``{"result", "polls", "errorCode", "errorMessage",
                                        "displayName", "times"}``: script the next job(s)
``DELETE``  ``/_cjob_emu/outcomes``     drop scripted outcomes
``POST``    ``/_cjob_emu/faults``       ``{"status": 503, "count": 2, "methods": ["get"]}``
``DELETE``  ``/_cjob_emu/faults``       drop faults and latency
``POST``    ``/_cjob_emu/latency``      ``{"seconds": 0.2}`` added to every API call
``POST``    ``/_cjob_emu/force``        ``{"name", "state", "error": {"code", "message"}}``
==========  ==========================  ==================================================
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from google.cloud.aiplatform_v1 import CustomJob, JobState
from google.protobuf import json_format

from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.faults import Faults
from cjob_emu.fake_api.filters import FilterError, compile_filter
from cjob_emu.fake_api.rpc import ApiError, bad_request, not_found
from cjob_emu.fake_api.runner_protocol import JobError, Runner
from cjob_emu.fake_api.simulated_runner import Outcome, ScriptedOutcome, SimulatedRunner
from cjob_emu.fake_api.storage import StorageApi
from cjob_emu.fake_api.store import MODES, JobStore
from cjob_emu.fake_api.vertex_urls import job_name, parent, route
from cjob_emu.fake_api.wire import Request, Response, error_response, json_object, json_response

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_cjob_emu/"
STORAGE_PREFIXES = ("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/")

def _output_only_fields() -> frozenset[str]:
    from cjob_emu.validate.docstrings import output_only_fields

    return output_only_fields(CustomJob)


class FakeVertexApp:
    """The fake API: a job store, simulated and executor runners, faults and admin.

    ``mode`` is what jobs run in unless their ``cjob-emu-mode`` label says
    otherwise; ``executor_runner`` provides executor mode (default: an
    :class:`~cjob_emu.fake_api.executor_runner.ExecutorRunner` with the executor's
    defaults, started on first use). With ``state_dir`` the jobs are kept on
    disk and survive a restart. With ``gcs_root`` the same server also answers
    the Cloud Storage JSON API over that directory (see
    :mod:`cjob_emu.fake_api.storage`), and executor-mode jobs use it as their
    gs:// root; ``work_dir`` holds their run directories (logs, final job).
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
            from cjob_emu.fake_api.executor_runner import ExecutorRunner

            executor_runner = ExecutorRunner(gcs_root=gcs_root, work_dir=work_dir)
        self.executor_runner = executor_runner
        self.storage: StorageApi | None = None
        if gcs_root is not None:
            self.storage = StorageApi(GcsRoot.at(gcs_root))
        runners: dict[str, Runner] = {"simulated": self.simulated, "executor": executor_runner}
        self.store = JobStore(runners, default_mode=mode, state_dir=state_dir)
        self.faults = Faults()
        self._output_only = _output_only_fields()
        self._api: dict[str, Callable[[Request, dict[str, str]], str]] = {
            "create": self._create,
            "get": self._get,
            "list": self._list,
            "cancel": self._cancel,
            "delete": self._delete,
            "get_operation": self._get_operation,
        }

    # -- entry point -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises, and bad input never answers 500."""
        try:
            path = unquote(request.path)
            if path.startswith(ADMIN_PREFIX):
                return json_response(self._admin(request, path[len(ADMIN_PREFIX):]))
            if self.storage is not None and path.startswith(STORAGE_PREFIXES):
                return self.storage.handle(request, path)
            if self.faults.latency:
                time.sleep(self.faults.latency)
            method, params = route(request.method, path)
            fault = self.faults.take(method)
            if fault is not None:
                raise fault
            return Response(200, self._api[method](request, params).encode("utf-8"))
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:  # a bug of ours: still answer in google.rpc shape
            log.exception("cjob-emu fake API failed on %s %s", request.method, request.path)
            error = ApiError("INTERNAL", f"cjob-emu internal error: {type(exc).__name__}: {exc}")
            return error_response(error)

    # -- API methods -----------------------------------------------------------------------

    def _create(self, request: Request, p: dict[str, str]) -> str:
        data = json_object(request.body, required=True)
        pb = self._parse_job(data, p["location"])
        return self.store.create(parent(p), pb)

    def _parse_job(self, data: dict[str, Any], location: str) -> Any:
        from cjob_emu.spec import schema_errors
        from cjob_emu.validate import validate

        pb = CustomJob.pb()()
        try:
            if schema_errors(data):  # json_format lets some through: [] for an object
                raise ValueError("the job does not fit the CustomJob schema")
            json_format.ParseDict(data, pb)
        except Exception as exc:  # json_format raises several types for bad shapes
            report = validate(data, location=location)
            if report.ok:  # the validator found nothing: say what the parser saw
                raise bad_request(f"Invalid JSON payload received. {exc}", []) from None
            raise bad_request(
                report.vertex_message(), [(v["field"], v["description"])
                                          for v in report.field_violations()]
            ) from None
        for name in self._output_only:  # Vertex ignores output-only fields in a request
            pb.ClearField(name)
        report = validate(CustomJob.wrap(pb), location=location)
        if not report.ok:
            raise bad_request(
                report.vertex_message(),
                [(v["field"], v["description"]) for v in report.field_violations()],
            )
        return pb

    def _get(self, request: Request, p: dict[str, str]) -> str:
        return self.store.get(job_name(p))

    def _list(self, request: Request, p: dict[str, str]) -> str:
        query = parse_qs(request.query, keep_blank_values=True)
        filter_text = _query_value(query, "filter")
        try:
            predicate = compile_filter(filter_text)
        except FilterError as exc:
            raise bad_request(str(exc), [("filter", str(exc))]) from None
        size_text = _query_value(query, "pageSize", "page_size") or "0"
        try:
            page_size = int(size_text)
        except ValueError:
            message = f"Invalid value for page_size: {size_text!r} is not an integer."
            raise bad_request(message, [("page_size", message)]) from None
        page = self.store.list(
            parent(p),
            predicate,
            filter_text=filter_text,
            page_size=page_size,
            page_token=_query_value(query, "pageToken", "page_token"),
        )
        return page.json()

    def _cancel(self, request: Request, p: dict[str, str]) -> str:
        json_object(request.body, required=False)
        self.store.cancel(job_name(p))
        return "{}"

    def _delete(self, request: Request, p: dict[str, str]) -> str:
        return self.store.delete(job_name(p))

    def _get_operation(self, request: Request, p: dict[str, str]) -> str:
        return self.store.get_operation(f"{parent(p)}/operations/{p['id']}")

    # -- admin -----------------------------------------------------------------------------

    def _admin(self, request: Request, route: str) -> dict[str, Any]:
        key = (request.method, route)
        body = json_object(request.body, required=False) if request.method == "POST" else {}
        try:
            if key == ("GET", "health"):
                return {"ok": True}
            if key == ("GET", "state"):
                return self.dump()
            if key == ("POST", "reset"):
                self.reset()
                return {}
            if key == ("POST", "outcomes"):
                self.script_outcome(**_admin_args(body, _OUTCOME_ARGS))
                return {}
            if key == ("DELETE", "outcomes"):
                self.simulated.clear()
                return {}
            if key == ("POST", "faults"):
                self.inject_fault(**_admin_args(body, {"status": "status", "count": "count",
                                                       "methods": "methods"}))
                return {}
            if key == ("DELETE", "faults"):
                self.faults.clear()
                return {}
            if key == ("POST", "latency"):
                self.set_latency(**_admin_args(body, {"seconds": "seconds"}))
                return {}
            if key == ("POST", "force"):
                args = _admin_args(body, {"name": "name", "state": "state", "error": "error"})
                return json.loads(self.force_state(**args))
        except (TypeError, ValueError) as exc:
            raise ApiError("INVALID_ARGUMENT", f"{request.method} {ADMIN_PREFIX}{route}: {exc}") \
                from None
        raise not_found(f"No admin route {request.method} {ADMIN_PREFIX}{route}.")

    # The admin operations, also called directly by the server and mock objects.

    def reset(self) -> None:
        """Forget every job, operation, scripted outcome, fault and latency."""
        self.store.reset()
        self.simulated.clear()
        self.faults.clear()

    def dump(self) -> dict[str, Any]:
        """All state: jobs (REST JSON, mode, run progress), operations, outcomes, faults."""
        state = self.store.dump()
        state["outcomes"] = [s.to_dict() for s in self.simulated.scripts()]
        state["defaultOutcome"] = self.simulated.default.to_dict()
        state["faults"] = self.faults.to_dict()
        return state

    def script_outcome(
        self,
        result: str = "succeed",
        *,
        polls: int = 2,
        error_code: int = 3,
        error_message: str | None = None,
        display_name: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Script how the next ``times`` simulated jobs (matching ``display_name``) end."""
        outcome = Outcome(result, polls, error_code, error_message)  # type: ignore[arg-type]
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                                  or times < 1):
            raise ValueError(f"times must be at least 1 (or null for every job), not {times!r}")
        self.simulated.script(ScriptedOutcome(outcome, display_name, times))

    def inject_fault(self, status: int, count: int | None = 1,
                     methods: list[str] | None = None) -> None:
        """The next ``count`` API calls (of ``methods``) answer HTTP ``status``."""
        self.faults.add(status, count, methods)

    def set_latency(self, seconds: float) -> None:
        """Delay every API call by ``seconds``."""
        self.faults.set_latency(seconds)

    def force_state(self, name: str, state: str | int,
                    error: Mapping[str, Any] | None = None) -> str:
        """Put job ``name`` in ``state`` (``"JOB_STATE_FAILED"`` or 5) now; its REST JSON."""
        number = _job_state(state)
        job_error: JobError | None = None
        if error is not None:
            if not isinstance(error, Mapping):
                raise ValueError("error must be an object {code, message}")
            job_error = (int(error.get("code", 2)), str(error.get("message", "")))
        return self.store.force(name, number, job_error)

    def close(self) -> None:
        """Stop real runs; the app answers nothing useful afterwards."""
        self.store.close()


_OUTCOME_ARGS = {
    "result": "result",
    "polls": "polls",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "displayName": "display_name",
    "times": "times",
}


def _admin_args(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments from a camelCase (or snake_case) admin body; unknown keys refused."""
    accepted = {**names, **{v: v for v in names.values()}}
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {sorted(names)}")
    return {accepted[k]: v for k, v in body.items()}


def _job_state(state: str | int) -> int:
    if isinstance(state, bool):
        raise ValueError(f"not a job state: {state!r}")
    states: Any = JobState  # a proto-plus enum: an IntEnum mypy does not see as one
    try:
        if isinstance(state, int):
            return int(states(state))
        return int(states[state if state.startswith("JOB_STATE_") else f"JOB_STATE_{state}"])
    except (KeyError, ValueError, AttributeError):
        names = ", ".join(s.name for s in states if s != JobState.JOB_STATE_UNSPECIFIED)
        raise ValueError(f"not a job state: {state!r}; one of {names}") from None


def _query_value(query: dict[str, list[str]], *names: str) -> str:
    for name in names:
        if name in query:
            return query[name][-1]
    return ""


class AppControls:
    """The admin operations of a :class:`FakeVertexApp`, on whatever serves it."""

    app: FakeVertexApp

    def reset(self) -> None:
        """Forget every job, operation, scripted outcome, fault and latency."""
        self.app.reset()

    def dump(self) -> dict[str, Any]:
        """All state: jobs (REST JSON, mode, run progress), operations, outcomes, faults."""
        return self.app.dump()

    def jobs(self) -> list[dict[str, Any]]:
        """Every job's REST JSON, oldest first, without moving any of them."""
        return [entry["job"] for entry in self.app.dump()["jobs"]]

    def script_outcome(
        self,
        result: str = "succeed",
        *,
        polls: int = 2,
        error_code: int = 3,
        error_message: str | None = None,
        display_name: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Script how the next ``times`` simulated jobs (matching ``display_name``) end.

        ``result`` is ``succeed``, ``fail`` or ``stay-running``; ``polls`` is the
        GET that finds the job ended; ``times=None`` scripts every matching job.
        """
        self.app.script_outcome(
            result,
            polls=polls,
            error_code=error_code,
            error_message=error_message,
            display_name=display_name,
            times=times,
        )

    def inject_fault(
        self, status: int, count: int | None = 1, methods: list[str] | None = None
    ) -> None:
        """The next ``count`` API calls (of ``methods``: create, get, list, cancel, delete,
        get_operation) answer HTTP ``status`` (429, 500, 503, ...); ``None`` means always."""
        self.app.inject_fault(status, count, methods)

    def set_latency(self, seconds: float) -> None:
        """Delay every API call by ``seconds`` (0 turns it off)."""
        self.app.set_latency(seconds)

    def force_state(
        self, name: str, state: str | int, error: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Put job ``name`` in ``state`` now and keep it there; the job's REST JSON."""
        return dict(json.loads(self.app.force_state(name, state, error)))
