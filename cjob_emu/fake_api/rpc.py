"""google.rpc errors as Google's REST front ends send them.

Every error the fake API answers is ``{"error": {"code": <http>, "message": ...,
"status": <google.rpc.Code name>, "details": [...]}}``; clients map it by the
HTTP status alone, so the status must follow Google's code-to-HTTP table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.rpc import code_pb2

# The HTTP status Google's front ends use for each google.rpc.Code (google/rpc/code.proto).
_HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}

# The code a fault injected as a bare HTTP status answers with.
_STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class ApiError(Exception):
    """An error answer: a google.rpc status name, a message and optional details."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        details: Iterable[Mapping[str, Any]] = (),
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if status not in _HTTP_STATUS:
            raise ValueError(f"unknown google.rpc status {status!r}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = [dict(d) for d in details]
        self.http_status = http_status if http_status is not None else _HTTP_STATUS[status]
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body Google's REST front ends send for this error."""
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False).encode("utf-8")


def status_code_number(status: str) -> int:
    """The google.rpc.Code number of a status name (``CANCELLED`` -> 1)."""
    return int(code_pb2.Code.Value(status))


def status_for_http(http_status: int) -> str:
    """The google.rpc status a front end would pair with an HTTP error status."""
    try:
        return _STATUS_FOR_HTTP[http_status]
    except KeyError:
        raise ValueError(
            f"cannot inject HTTP {http_status}; choose one of {sorted(_STATUS_FOR_HTTP)}"
        ) from None


def bad_request(message: str, violations: Iterable[tuple[str, str]]) -> ApiError:
    """400 INVALID_ARGUMENT with a google.rpc.BadRequest listing ``(field, description)``."""
    field_violations = [{"field": f, "description": d} for f, d in violations]
    details = [{"@type": BAD_REQUEST_TYPE, "fieldViolations": field_violations}]
    return ApiError("INVALID_ARGUMENT", message, details=details if field_violations else ())


def invalid_argument(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)
