"""The Vertex API methods over the job stores (moto's ``responses.py``).

Each method reads its request (proto3 JSON in, our validator on a CustomJob's create,
the list filter and paging parameters), calls the
:class:`~cjob_emu.fake_api.store.JobStore` of its kind and renders the messages it
answers with as REST JSON, byte for byte as ``json_format`` writes them: enums by name,
or as integers when the query says ``$alt=json;enum-encoding=int`` (the SDK's REST
transport does). The project in a request may be its id or its number; names in
answers carry the number (:mod:`.projects`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from google.cloud.aiplatform_v1 import CustomJob
from google.protobuf import field_mask_pb2, json_format

from cjob_emu.fake_api.filters import FilterError, compile_filter
from cjob_emu.fake_api.kinds import CUSTOM_JOBS, PIPELINE_JOBS, Kind
from cjob_emu.fake_api.pipeline_requests import parse_pipeline_job
from cjob_emu.fake_api.projects import ProjectNumbers
from cjob_emu.fake_api.rpc import ApiError, bad_request, not_found
from cjob_emu.fake_api.store import JobStore, Page
from cjob_emu.fake_api.vertex_urls import job_name, parent
from cjob_emu.fake_api.wire import Request, Response, json_object
from cjob_emu.spec import schema_errors
from cjob_emu.validate import validate
from cjob_emu.validate.docstrings import output_only_fields

_MAX_RENDERED = 10_000  # job texts kept per encoding; all are dropped when it is full
DEFAULT_DISK = ("pd-ssd", 100)
"""What Vertex fills in a pool's ``diskSpec`` on create (boot disk type, size in GB)."""
INVALID_CUSTOM_JOB_NAME = (
    "List of found errors:\t1.Field: name; Message: Invalid CustomJob resource name.\t"
)

Method = Callable[[Request, dict[str, str], Kind], Any]


class VertexResponses:
    """Answers the methods of :data:`~cjob_emu.fake_api.vertex_urls.ROUTES` from ``stores``."""

    def __init__(self, stores: Mapping[str, JobStore], projects: ProjectNumbers) -> None:
        self.stores = dict(stores)  # by collection
        self.projects = projects
        self._output_only = output_only_fields(CustomJob)
        self._rendered: dict[bool, dict[str, tuple[Any, str]]] = {False: {}, True: {}}
        custom, pipeline = CUSTOM_JOBS, PIPELINE_JOBS
        self._methods: dict[str, tuple[Method, Kind]] = {
            "create": (self._create, custom),
            "get": (self._get, custom),
            "list": (self._list, custom),
            "cancel": (self._cancel, custom),
            "delete": (self._delete, custom),
            "create_pipeline_job": (self._create, pipeline),
            "get_pipeline_job": (self._get, pipeline),
            "list_pipeline_jobs": (self._list, pipeline),
            "cancel_pipeline_job": (self._cancel, pipeline),
            "delete_pipeline_job": (self._delete, pipeline),
            "get_operation": (self._get_operation, custom),
        }

    def answer(self, method: str, request: Request, params: dict[str, str]) -> Response:
        """Call API ``method`` with the route's ``params``; raises ``ApiError``."""
        handler, kind = self._methods[method]
        params = {**params, "project": self.projects.number(params["project"])}
        if kind.numeric_ids and "id" in params and not params["id"].isdigit() \
                and method != "get_operation":
            raise ApiError("INVALID_ARGUMENT", INVALID_CUSTOM_JOB_NAME)
        answer = handler(request, params, kind)
        if isinstance(answer, str):
            return Response(200, answer.encode("utf-8"))
        return Response(200, self._render(answer, _int_enums(request)).encode("utf-8"))

    # -- the methods -----------------------------------------------------------------------

    def _create(self, request: Request, p: dict[str, str], kind: Kind) -> Any:
        data = json_object(request.body, required=True)
        if kind is PIPELINE_JOBS:
            pb, job_id = parse_pipeline_job(data, _query(request))
            return self.stores[kind.collection].create(parent(p), pb, job_id)
        pb = self._parse_job(data, p["location"])
        fill_disk_defaults(pb)
        return self.stores[kind.collection].create(parent(p), pb)

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

    def _get(self, request: Request, p: dict[str, str], kind: Kind) -> Any:
        return self.stores[kind.collection].get(job_name(p, kind))

    def _list(self, request: Request, p: dict[str, str], kind: Kind) -> str:
        query = _query(request)
        filter_text = _query_value(query, "filter")
        try:
            predicate = compile_filter(filter_text, kind)
        except FilterError as exc:
            raise bad_request(str(exc), [("filter", str(exc))]) from None
        size_text = _query_value(query, "pageSize", "page_size") or "0"
        try:
            page_size = int(size_text)
        except ValueError:
            message = f"Invalid value for page_size: {size_text!r} is not an integer."
            raise bad_request(message, [("page_size", message)]) from None
        order = _query_value(query, "orderBy", "order_by").strip()
        if order and order.replace(" ", "") not in ("create_timedesc", "createTimedesc"):
            message = (f"cjob-emu lists newest first (create_time desc) only; order_by "
                       f"{order!r} is not supported")
            raise bad_request(message, [("order_by", message)])
        page = self.stores[kind.collection].list(
            parent(p),
            predicate,
            filter_text=filter_text,
            page_size=page_size,
            page_token=_query_value(query, "pageToken", "page_token"),
        )
        return self._page_json(page, kind, _int_enums(request),
                               _read_mask(_query_value(query, "readMask", "read_mask")))

    def _cancel(self, request: Request, p: dict[str, str], kind: Kind) -> str:
        json_object(request.body, required=False)
        self.stores[kind.collection].cancel(job_name(p, kind))
        return "{}"

    def _delete(self, request: Request, p: dict[str, str], kind: Kind) -> Any:
        return self.stores[kind.collection].delete(job_name(p, kind))

    def _get_operation(self, request: Request, p: dict[str, str], kind: Kind) -> Any:
        name = f"{parent(p)}/operations/{p['id']}"
        for store in self.stores.values():
            operation = store.get_operation(name)
            if operation is not None:
                return operation
        raise not_found(f"Operation {name} is not found.")

    # -- rendering -------------------------------------------------------------------------

    def _render(self, pb: Any, int_enums: bool) -> str:
        """A message's REST JSON; a job's is rendered once per version of the job.

        The store replaces a job's message on every change and never changes one it
        handed out, so the same message object always renders to the same text; polls
        of an unchanged job and lists reuse it.
        """
        kept = self._rendered[int_enums]
        name = getattr(pb, "name", "")
        found = kept.get(name)
        if found is not None and found[0] is pb:
            return found[1]
        text = json_format.MessageToJson(pb, indent=None, use_integers_for_enums=int_enums)
        if len(kept) >= _MAX_RENDERED:
            kept.clear()
        kept[name] = (pb, text)
        return text

    def _page_json(self, page: Page, kind: Kind, int_enums: bool,
                   mask: field_mask_pb2.FieldMask | None) -> str:
        """A list response as ``json_format`` writes it, from kept job texts."""
        fields = kind.list_response.pb().DESCRIPTOR.fields_by_name
        jobs_key = fields[kind.list_field].json_name
        token_key = fields["next_page_token"].json_name
        parts = []
        if page.jobs:
            texts = [self._render(job, int_enums) if mask is None
                     else json_format.MessageToJson(_masked(job, mask), indent=None,
                                                    use_integers_for_enums=int_enums)
                     for job in page.jobs]
            parts.append(f'"{jobs_key}": [' + ", ".join(texts) + "]")
        if page.next_page_token:
            parts.append(f'"{token_key}": ' + json.dumps(page.next_page_token))
        return "{" + ", ".join(parts) + "}"


def fill_disk_defaults(pb: Any) -> None:
    """Vertex's create fills ``diskSpec`` (pd-ssd, 100 GB) in every pool that runs replicas
    and sets none, and the part a pool leaves out of its own (a guess for that part)."""
    for pool in pb.job_spec.worker_pool_specs:
        if not pool.HasField("machine_spec"):  # an empty placeholder pool ({}) stays empty
            continue
        disk = pool.disk_spec
        disk.boot_disk_type = disk.boot_disk_type or DEFAULT_DISK[0]
        disk.boot_disk_size_gb = disk.boot_disk_size_gb or DEFAULT_DISK[1]


def _masked(pb: Any, mask: field_mask_pb2.FieldMask) -> Any:
    """The job with only the top-level fields ``mask`` names (a superset of the mask)."""
    keep = {path.split(".", 1)[0] for path in mask.paths}
    copy = type(pb)()
    copy.CopyFrom(pb)
    for descriptor in pb.DESCRIPTOR.fields:
        if descriptor.name not in keep:
            copy.ClearField(descriptor.name)
    return copy


def _read_mask(text: str) -> field_mask_pb2.FieldMask | None:
    if not text:
        return None
    mask = field_mask_pb2.FieldMask()
    try:
        mask.FromJsonString(text)
    except ValueError as exc:
        raise bad_request(f"Invalid read_mask {text!r}: {exc}", [("read_mask", str(exc))]) \
            from None
    return mask


def _query(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.query, keep_blank_values=True)


def _int_enums(request: Request) -> bool:
    """Whether the client asked for enums as integers (``$alt=json;enum-encoding=int``)."""
    alt = _query_value(_query(request), "$alt")
    return "enum-encoding=int" in alt.split(";")


def _query_value(query: dict[str, list[str]], *names: str) -> str:
    for name in names:
        if name in query:
            return query[name][-1]
    return ""
