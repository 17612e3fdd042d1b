"""Which Vertex API method a request calls: the route table (moto's ``urls.py``).

The fake API serves ``projects.locations.customJobs``, ``projects.locations.pipelineJobs``
and their operations under ``/v1/``, ``/v1beta1/`` and ``/ui/`` (the console's prefix,
which the SDK uses for some polls). Each row is one HTTP rule of the method, as in
the API's discovery document; the method names are also what faults target.
"""

from __future__ import annotations

import re

from cjob_emu.fake_api.kinds import Kind
from cjob_emu.fake_api.rpc import ApiError, not_found

_API_PATH = re.compile(
    r"^/(?:v1|v1beta1|ui)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
    r"(?P<rest>.+)$"
)

ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(f"^{pattern}$"), http_method, method)
    for pattern, http_method, method in (
        # path under projects/*/locations/*, HTTP method, API method
        (r"customJobs", "POST", "create"),
        (r"customJobs/(?P<id>[^/:]+)", "GET", "get"),
        (r"customJobs", "GET", "list"),
        (r"customJobs/(?P<id>[^/:]+):cancel", "POST", "cancel"),
        (r"customJobs/(?P<id>[^/:]+)", "DELETE", "delete"),
        (r"pipelineJobs", "POST", "create_pipeline_job"),
        (r"pipelineJobs/(?P<id>[^/:]+)", "GET", "get_pipeline_job"),
        (r"pipelineJobs", "GET", "list_pipeline_jobs"),
        (r"pipelineJobs/(?P<id>[^/:]+):cancel", "POST", "cancel_pipeline_job"),
        (r"pipelineJobs/(?P<id>[^/:]+)", "DELETE", "delete_pipeline_job"),
        (r"operations/(?P<id>[^/:]+)", "GET", "get_operation"),
    )
)

METHODS = tuple(method for _, _, method in ROUTES)
"""The API methods, by the names faults target."""


def route(http_method: str, path: str) -> tuple[str, dict[str, str]]:
    """The API method ``path`` (%-decoded) calls and its path parameters (``project``,
    ``location``, ``id``); 404 for no route, 405 for a route without ``http_method``."""
    match = _API_PATH.match(path)
    allowed: list[str] = []
    if match:
        for pattern, rule_method, method in ROUTES:
            found = pattern.match(match["rest"])
            if found is None:
                continue
            if rule_method == http_method:
                return method, {"project": match["project"], "location": match["location"],
                                **found.groupdict()}
            allowed.append(rule_method)
    if allowed:
        listed = ", ".join(sorted(allowed))
        raise ApiError(
            "UNIMPLEMENTED",
            f"Method {http_method} is not allowed on {path}; allowed: {listed}.",
            http_status=405,
            headers={"Allow": listed},
        )
    raise not_found(f"The requested URL {path} was not found on this server.")


def job_name(params: dict[str, str], kind: Kind) -> str:
    """The job's resource name from a route's parameters."""
    return f"{parent(params)}/{kind.collection}/{params['id']}"


def parent(params: dict[str, str]) -> str:
    """``projects/P/locations/L`` from a route's parameters."""
    return f"projects/{params['project']}/locations/{params['location']}"
