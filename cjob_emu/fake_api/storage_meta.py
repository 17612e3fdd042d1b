"""What Cloud Storage keeps about an object besides its bytes, and write preconditions.

The bytes are the file under the gs:// root; the metadata a client sets (content type,
custom ``metadata``, cache control, ...) is kept in memory beside it, for as long as the
server runs and the file is unchanged: a file rewritten by someone else (a replica
through ``/gcs``) has default metadata again, as a fresh upload would. Generations come
from the file's mtime; the metageneration counts metadata updates since the last write.
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cjob_emu.fake_api.rpc import ApiError

WRITABLE = (
    "cacheControl",
    "contentDisposition",
    "contentEncoding",
    "contentLanguage",
    "contentType",
    "customTime",
    "metadata",
)
"""Object fields a client may set (uploads, patch, update, copy, rewrite, compose)."""

_PRECONDITIONS = ("GenerationMatch", "GenerationNotMatch", "MetagenerationMatch",
                  "MetagenerationNotMatch")


@dataclass
class _Entry:
    stamp: tuple[int, int, int]
    fields: dict[str, Any] = field(default_factory=dict)
    metageneration: int = 1


@dataclass(frozen=True)
class ObjectMeta:
    """An object's generation, metageneration and client-set fields."""

    generation: int
    metageneration: int
    fields: Mapping[str, Any]

    def content_type(self, name: str) -> str:
        return str(self.fields.get("contentType") or _guess_type(name))


class MetadataStore:
    """Client-set metadata of objects, keyed by ``(bucket, name)``; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def get(self, bucket: str, name: str, path: Path) -> ObjectMeta | None:
        """The object's metadata, or ``None`` when there is no such file."""
        try:
            stamp = _stamp(path)
        except OSError:
            return None
        with self._lock:
            entry = self._entries.get((bucket, name))
            if entry is None or entry.stamp != stamp:
                entry = self._entries[(bucket, name)] = _Entry(stamp)
            return ObjectMeta(stamp[0] // 1000, entry.metageneration, dict(entry.fields))

    def written(self, bucket: str, name: str, path: Path, fields: Mapping[str, Any]) -> None:
        """The file was (re)written with ``fields``: metageneration 1 again."""
        with self._lock:
            self._entries[(bucket, name)] = _Entry(_stamp(path), writable(fields))

    def update(self, bucket: str, name: str, path: Path, changes: Mapping[str, Any], *,
               replace: bool) -> None:
        """Apply a patch (``replace=False``: ``metadata`` keys merge, ``null`` removes)
        or an update (``replace=True``: the writable fields become ``changes``)."""
        with self._lock:
            stamp = _stamp(path)
            entry = self._entries.get((bucket, name))
            if entry is None or entry.stamp != stamp:
                entry = _Entry(stamp)
            fields = {} if replace else dict(entry.fields)
            for key, value in writable(changes).items():
                if key == "metadata" and not replace and isinstance(value, Mapping):
                    merged = {**(fields.get("metadata") or {}), **value}
                    value = {k: v for k, v in merged.items() if v is not None} or None
                if value is None:
                    fields.pop(key, None)
                else:
                    fields[key] = value
            self._entries[(bucket, name)] = _Entry(stamp, fields, entry.metageneration + 1)

    def forget(self, bucket: str, name: str) -> None:
        with self._lock:
            self._entries.pop((bucket, name), None)


def writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The client-settable fields of an object resource; ``metadata`` values as strings."""
    result = {k: fields[k] for k in WRITABLE if k in fields}
    metadata = result.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ApiError("INVALID_ARGUMENT", "Object metadata must be a JSON object.")
        result["metadata"] = {str(k): None if v is None else str(v) for k, v in metadata.items()}
    for key in WRITABLE:
        if key != "metadata" and result.get(key) is not None and not isinstance(result[key], str):
            raise ApiError("INVALID_ARGUMENT", f"Invalid value for {key}: must be a string.")
    return result


def check_preconditions(query: Mapping[str, str], meta: ObjectMeta | None, *,
                        source: bool = False) -> None:
    """Raise 412 when an ``if[Source]{Generation,Metageneration}[Not]Match`` does not hold.

    ``meta`` is the object now (``None``: it does not exist; ``ifGenerationMatch=0``
    asks for exactly that).
    """
    prefix = "ifSource" if source else "if"
    for condition in _PRECONDITIONS:
        raw = query.get(prefix + condition)
        if raw is None:
            continue
        try:
            wanted = int(raw)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", f"Invalid {prefix + condition}: {raw!r}") from None
        if meta is None:
            holds = condition == "GenerationMatch" and wanted == 0
        else:
            current = meta.generation if condition.startswith("Generation") else meta.metageneration
            holds = (current == wanted) != condition.endswith("NotMatch")
        if not holds:
            raise ApiError("FAILED_PRECONDITION",
                           "At least one of the pre-conditions you specified did not hold.",
                           http_status=412)


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
