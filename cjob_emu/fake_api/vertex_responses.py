"""The Vertex API methods over the job store (moto's ``responses.py``).

Each method reads its request (proto3 JSON in, our validator on create, the list
filter and paging parameters), calls the :class:`~cjob_emu.fake_api.store.JobStore`
and renders the messages it answers with as REST JSON, byte for byte as
``json_format`` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from google.cloud.aiplatform_v1 import CustomJob, ListCustomJobsResponse
from google.protobuf import json_format

from cjob_emu.fake_api.filters import FilterError, compile_filter
from cjob_emu.fake_api.rpc import bad_request
from cjob_emu.fake_api.store import JobStore, Page
from cjob_emu.fake_api.vertex_urls import job_name, parent
from cjob_emu.fake_api.wire import Request, Response, json_object
from cjob_emu.spec import schema_errors
from cjob_emu.validate import validate
from cjob_emu.validate.docstrings import output_only_fields

_LIST_KEY = ListCustomJobsResponse.pb().DESCRIPTOR.fields_by_name["custom_jobs"].json_name
_TOKEN_KEY = ListCustomJobsResponse.pb().DESCRIPTOR.fields_by_name["next_page_token"].json_name
_MAX_RENDERED = 10_000  # jobs whose REST JSON is kept; all are dropped when it is full


class VertexResponses:
    """Answers the methods of :data:`~cjob_emu.fake_api.vertex_urls.ROUTES` from ``store``."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._output_only = output_only_fields(CustomJob)
        self._rendered: dict[str, tuple[Any, str]] = {}
        self._methods: dict[str, Callable[[Request, dict[str, str]], str]] = {
            "create": self._create,
            "get": self._get,
            "list": self._list,
            "cancel": self._cancel,
            "delete": self._delete,
            "get_operation": self._get_operation,
        }

    def answer(self, method: str, request: Request, params: dict[str, str]) -> Response:
        """Call API ``method`` with the route's ``params``; raises ``ApiError``."""
        return Response(200, self._methods[method](request, params).encode("utf-8"))

    # -- the methods -----------------------------------------------------------------------

    def _create(self, request: Request, p: dict[str, str]) -> str:
        data = json_object(request.body, required=True)
        pb = self._parse_job(data, p["location"])
        return self._job_json(self.store.create(parent(p), pb))

    def _parse_job(self, data: dict[str, Any], location: str) -> Any:
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
        return self._job_json(self.store.get(job_name(p)))

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
        return self._page_json(page)

    def _cancel(self, request: Request, p: dict[str, str]) -> str:
        json_object(request.body, required=False)
        self.store.cancel(job_name(p))
        return "{}"

    def _delete(self, request: Request, p: dict[str, str]) -> str:
        return json_format.MessageToJson(self.store.delete(job_name(p)), indent=None)

    def _get_operation(self, request: Request, p: dict[str, str]) -> str:
        operation = self.store.get_operation(f"{parent(p)}/operations/{p['id']}")
        return json_format.MessageToJson(operation, indent=None)

    # -- rendering -------------------------------------------------------------------------

    def _job_json(self, pb: Any) -> str:
        """The job's REST JSON, rendered once per version of the job.

        The store replaces a job's message on every change and never changes one it
        handed out, so the same message object always renders to the same text; polls
        of an unchanged job and lists reuse it.
        """
        kept = self._rendered.get(pb.name)
        if kept is not None and kept[0] is pb:
            return kept[1]
        text = json_format.MessageToJson(pb, indent=None)
        if len(self._rendered) >= _MAX_RENDERED:
            self._rendered.clear()
        self._rendered[pb.name] = (pb, text)
        return text

    def _page_json(self, page: Page) -> str:
        """A ``ListCustomJobsResponse`` as ``json_format`` writes it, from kept job texts."""
        parts = []
        if page.jobs:
            parts.append(f'"{_LIST_KEY}": [' + ", ".join(map(self._job_json, page.jobs)) + "]")
        if page.next_page_token:
            parts.append(f'"{_TOKEN_KEY}": ' + json.dumps(page.next_page_token))
        return "{" + ", ".join(parts) + "}"


def _query_value(query: dict[str, list[str]], *names: str) -> str:
    for name in names:
        if name in query:
            return query[name][-1]
    return ""
