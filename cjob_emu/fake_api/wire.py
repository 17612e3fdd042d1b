"""What crosses HTTP between a client and the fake API, as the app sees it.

:class:`Request` and :class:`Response` are all the HTTP server and the ``responses``
mock hand to the app and take back; :func:`json_object` is the one reader of JSON
request bodies (Vertex, admin and Cloud Storage routes alike).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cjob_emu.fake_api.rpc import ApiError, bad_request

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Request:
    """An HTTP request as the app sees it.

    ``path`` is without the query and still %-encoded; ``headers`` have lower-case
    names; ``base`` is ``scheme://host[:port]`` as the client addressed the server.
    """

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    base: str = ""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", JSON_TYPE),)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode("utf-8"))


def error_response(error: ApiError) -> Response:
    """The google.rpc JSON answer of ``error``, with its extra headers (``Allow``...)."""
    headers = (("Content-Type", JSON_TYPE), *error.headers.items())
    return Response(error.http_status, error.body_bytes(), headers)


def json_object(body: bytes, *, required: bool) -> dict[str, Any]:
    """The JSON object a request body holds; an empty body is ``{}`` unless ``required``.

    Anything else (bad JSON, another JSON type) is a 400 INVALID_ARGUMENT.
    """
    if not body.strip():
        if required:
            raise bad_request("Invalid JSON payload received. The request body is empty.", [])
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"Invalid JSON payload received. {exc}.", []) from None
    if not isinstance(data, dict):
        raise bad_request(
            f"Invalid JSON payload received. Expected an object, got {type(data).__name__}.", []
        )
    return data
