"""Faults injected into the fake Vertex API: error answers and added latency.

The admin surface queues them (``POST /_cjob_emu/faults``, ``/latency``); the app
asks :class:`Faults` before each Vertex API call, by the method's name in
:data:`~cjob_emu.fake_api.vertex_urls.METHODS`. Admin and Cloud Storage calls never
fail this way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cjob_emu.fake_api.rpc import ApiError, status_for_http
from cjob_emu.fake_api.vertex_urls import METHODS


@dataclass
class _Fault:
    http_status: int
    remaining: int | None
    methods: frozenset[str] | None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.http_status, "remaining": self.remaining,
                "methods": sorted(self.methods) if self.methods else None}


_FAULT_MESSAGES = {
    "RESOURCE_EXHAUSTED": "Quota exceeded (cjob-emu injected fault).",
    "INTERNAL": "Internal error encountered. (cjob-emu injected fault)",
    "UNAVAILABLE": "The service is currently unavailable. (cjob-emu injected fault)",
}


@dataclass
class Faults:
    """Errors and delay injected into API calls (never into the admin surface)."""

    latency: float = 0.0
    _queue: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, http_status: int, count: int | None = 1, methods: list[str] | None = None
    ) -> None:
        """The next ``count`` calls (of ``methods``, default all) answer ``http_status``.

        ``count=None`` keeps failing until :meth:`clear`.
        """
        status_for_http(http_status)  # raises ValueError for a status we cannot answer
        if count is not None and (isinstance(count, bool) or count < 1):
            raise ValueError(f"count must be at least 1 (or null for always), not {count!r}")
        unknown = sorted(set(methods or ()) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; known: {list(METHODS)}")
        with self._lock:
            self._queue.append(_Fault(http_status, count, frozenset(methods) if methods else None))

    def set_latency(self, seconds: float) -> None:
        if not 0 <= seconds <= 60:
            raise ValueError(f"latency must be 0..60 seconds, not {seconds!r}")
        self.latency = float(seconds)

    def take(self, method: str) -> ApiError | None:
        """The error the next call of ``method`` must answer, if a fault is due."""
        if not self._queue:
            return None
        with self._lock:
            for i, fault in enumerate(self._queue):
                if fault.methods is not None and method not in fault.methods:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._queue[i]
                status = status_for_http(fault.http_status)
                message = _FAULT_MESSAGES.get(status, f"cjob-emu injected fault ({status}).")
                return ApiError(status, message, http_status=fault.http_status)
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
        self.latency = 0.0

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"latency": self.latency, "pending": [f.to_dict() for f in self._queue]}
