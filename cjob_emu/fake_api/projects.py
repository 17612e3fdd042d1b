"""Project ids and their numbers, as Vertex and Resource Manager know them.

Vertex answers with the project **number** in every resource name
(``projects/123456789012/locations/...``) whether the request named the project by
its id or its number; a replica sees the same number in ``CLOUD_ML_PROJECT_ID``.
:class:`ProjectNumbers` is the one mapping: each id has one number, derived from
the id (so a project keeps its number across restarts and machines) unless
configured. :func:`answer_resource_manager` serves Resource Manager's
``projects.get`` (v3) from it, which is what the SDK asks for the number.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from cjob_emu.fake_api.rpc import ApiError, not_found
from cjob_emu.fake_api.wire import Request, Response, json_response

DEFAULT_PROJECT = "cjob-emu-project"
"""The project the fixtures point the SDK at; it owns the buckets nobody created through
the API (directories already under the gs:// root)."""

RESOURCE_MANAGER_PREFIX = "/v3/projects/"
"""Resource Manager v3 ``projects.get``: ``GET /v3/projects/{id or number}``."""

_NUMBER_DIGITS = 12  # Google Cloud project numbers have 12 digits


def derived_number(project_id: str) -> str:
    """The number a project id gets unless configured: 12 digits from its hash."""
    digest = int(hashlib.sha256(project_id.encode("utf-8")).hexdigest(), 16)
    low = 10 ** (_NUMBER_DIGITS - 1)
    return str(low + digest % (9 * low))


class ProjectNumbers:
    """Each project id's number (thread-safe); numbers stand for themselves."""

    def __init__(self, configured: Mapping[str, str] | None = None,
                 default_project: str = DEFAULT_PROJECT) -> None:
        self.default_project = default_project
        self._lock = threading.Lock()
        self._numbers: dict[str, str] = {}
        for project_id, number in (configured or {}).items():
            self.configure(project_id, number)

    def number(self, project: str) -> str:
        """The number of ``project`` (an id or already a number)."""
        if project.isdigit():
            return project
        with self._lock:
            found = self._numbers.get(project)
            if found is None:
                found = self._numbers[project] = derived_number(project)
            return found

    def project_id(self, number: str) -> str | None:
        """The id of the project numbered ``number``, if one is known here."""
        with self._lock:
            return next((i for i, n in self._numbers.items() if n == number), None)

    def configure(self, project_id: str, number: str) -> None:
        """Give ``project_id`` the number ``number`` (digits, unused by another id)."""
        if not isinstance(project_id, str) or project_id.isdigit() or not project_id:
            raise ValueError(f"not a project id: {project_id!r}")
        if not isinstance(number, str) or not number.isdigit():
            raise ValueError(f"a project number is digits, not {number!r}")
        with self._lock:
            taken = next((i for i, n in self._numbers.items()
                          if n == number and i != project_id), None)
            if taken is not None:
                raise ValueError(f"project number {number} belongs to {taken} already")
            self._numbers[project_id] = number

    def to_dict(self) -> dict[str, str]:
        with self._lock:
            return dict(self._numbers)


def answer_resource_manager(projects: ProjectNumbers, request: Request, project: str) -> Response:
    """Resource Manager v3 ``projects.get`` of ``project`` (an id or a number)."""
    if request.method != "GET":
        raise ApiError("UNIMPLEMENTED", f"Method {request.method} is not supported on "
                       f"{RESOURCE_MANAGER_PREFIX}{project}.", http_status=405)
    if "/" in project or not project:
        raise not_found(f"The requested URL {request.path} was not found on this server.")
    if project.isdigit():
        project_id = projects.project_id(project)
        if project_id is None:
            raise not_found(f"Project projects/{project} is not known to cjob-emu; name it by "
                            "its id once (any request does) or configure its number.")
    else:
        project_id = project
    number = projects.number(project_id)
    body: dict[str, Any] = {
        "name": f"projects/{number}",
        "parent": "organizations/0",
        "projectId": project_id,
        "state": "ACTIVE",
        "displayName": project_id,
        "etag": "W/\"cjob-emu\"",
    }
    return json_response(body)
