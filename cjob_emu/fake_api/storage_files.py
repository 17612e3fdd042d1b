"""Cloud Storage's buckets and objects as the directories and files of a gs:// root.

``gs://BUCKET/NAME`` is the file ``<root>/BUCKET/NAME``, the same file a replica sees
at ``/gcs/BUCKET/NAME``; a bucket is a directory. :class:`StorageFiles` is the
backend of :mod:`.storage` (moto's split): it reads and writes those files and
answers with the JSON API's resources (``storage#bucket``, ``storage#object``...,
links relative to the server), leaving HTTP to its caller. The metadata clients set
lives beside the files (:mod:`.storage_meta`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cjob_emu.errors import GcsPathError
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.rpc import ApiError, invalid_argument, not_found
from cjob_emu.fake_api.storage_meta import (
    MetadataStore,
    ObjectMeta,
    check_preconditions,
    writable,
)

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_TEMP_PREFIX = ".cjob-emu-upload-"
_DEFAULT_MAX_RESULTS = 1000
_MAX_COMPOSE = 32


class StorageFiles:
    """Buckets and objects under ``root``; every method raises :class:`ApiError`."""

    def __init__(self, root: GcsRoot) -> None:
        self.root = root
        self.meta = MetadataStore()

    # -- buckets ---------------------------------------------------------------------------

    def bucket(self, bucket: str) -> dict[str, Any]:
        path = self._bucket_dir(bucket)
        stamp = _rfc3339(path.stat().st_mtime)
        return {
            "kind": "storage#bucket",
            "id": bucket,
            "name": bucket,
            "selfLink": f"/storage/v1/b/{bucket}",
            "projectNumber": "0",
            "metageneration": "1",
            "location": "US",
            "storageClass": "STANDARD",
            "etag": "CAE=",
            "timeCreated": stamp,
            "updated": stamp,
        }

    def list_buckets(self) -> dict[str, Any]:
        names = sorted(p.name for p in self.root.path.iterdir()
                       if p.is_dir() and _BUCKET_NAME.match(p.name))
        return {"kind": "storage#buckets", "items": [self.bucket(n) for n in names]}

    def create_bucket(self, name: str) -> dict[str, Any]:
        path = self._bucket_dir(name, must_exist=False)
        if path.exists():
            raise ApiError("ALREADY_EXISTS", f"Your previous request to create the named bucket "
                           f"succeeded and you already own it: {name}", http_status=409)
        path.mkdir(parents=True)
        return self.bucket(name)

    def delete_bucket(self, bucket: str) -> None:
        path = self._bucket_dir(bucket)
        if any(path.iterdir()):
            raise ApiError("ABORTED", f"The bucket you tried to delete is not empty: {bucket}",
                           http_status=409)
        path.rmdir()

    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        if not _BUCKET_NAME.match(bucket) or ".." in bucket:
            raise invalid_argument(f"Invalid bucket name: {bucket!r}")
        path = self.root.path / bucket
        if must_exist and not path.is_dir():
            raise not_found(f"The specified bucket does not exist: {bucket}")
        return path

    # -- objects -----------------------------------------------------------------------------

    def object(self, bucket: str, name: str, path: Path | None = None) -> dict[str, Any]:
        path = path or self._file(bucket, name, must_exist=True)
        data = path.read_bytes()
        stat = path.stat()
        meta = self.meta.get(bucket, name, path)
        if meta is None:
            raise not_found(f"No such object: {bucket}/{name}")
        generation = str(meta.generation)
        link = f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
        return {
            **meta.fields,
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{generation}",
            "selfLink": link,
            "mediaLink": f"/download{link}?generation={generation}&alt=media",
            "name": name,
            "bucket": bucket,
            "generation": generation,
            "metageneration": str(meta.metageneration),
            "contentType": meta.content_type(name),
            "storageClass": "STANDARD",
            "size": str(len(data)),
            "md5Hash": md5_hash(data),
            "crc32c": crc32c_hash(data),
            "etag": md5_hash(data),
            "timeCreated": _rfc3339(stat.st_mtime),
            "updated": _rfc3339(stat.st_mtime),
        }

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     max_results: str | None = None, page_token: str = "") -> dict[str, Any]:
        """One page of the bucket's objects (and, with ``delimiter``, common prefixes)."""
        base = self._bucket_dir(bucket)
        try:
            limit = int(max_results or _DEFAULT_MAX_RESULTS)
        except ValueError:
            raise invalid_argument(f"Invalid maxResults: {max_results!r}") from None
        after = _unpack_token(page_token)
        names = sorted(
            p.relative_to(base).as_posix() for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(_TEMP_PREFIX)
        )
        items: list[str] = []
        prefixes: list[str] = []
        last = ""
        more = False
        for name in names:
            if not name.startswith(prefix):
                continue
            if after and (name <= after or (delimiter and after.endswith(delimiter)
                                            and name.startswith(after))):
                continue
            key, common = name, False
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    key, common = name[: cut + len(delimiter)], True
            if common and prefixes and prefixes[-1] == key:
                continue
            if len(items) + len(prefixes) >= limit:
                more = True
                break
            (prefixes if common else items).append(key)
            last = key
        result: dict[str, Any] = {"kind": "storage#objects"}
        if items:
            result["items"] = [self.object(bucket, n, base / n) for n in items]
        if prefixes:
            result["prefixes"] = prefixes
        if more:
            result["nextPageToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return result

    def check(self, bucket: str, name: str, conditions: Mapping[str, str], *,
              source: bool = False, must_exist: bool = False) -> ObjectMeta | None:
        """The object's metadata now (``None``: missing) after checking the
        ``if[Source]*Match`` ``conditions`` (query parameters)."""
        path = self._file(bucket, name, must_exist=must_exist)
        meta = self.meta.get(bucket, name, path)
        check_preconditions(conditions, meta, source=source)
        return meta

    def update(self, bucket: str, name: str, changes: Mapping[str, Any], *,
               replace: bool) -> dict[str, Any]:
        """Patch (``replace=False``) or update the object's metadata; its resource."""
        path = self._file(bucket, name, must_exist=True)
        self.meta.update(bucket, name, path, changes, replace=replace)
        return self.object(bucket, name, path)

    def delete_object(self, bucket: str, name: str, conditions: Mapping[str, str]) -> None:
        self.check(bucket, name, conditions)
        self._file(bucket, name, must_exist=True).unlink()
        self.meta.forget(bucket, name)

    def read(self, bucket: str, name: str) -> tuple[bytes, str]:
        """The object's bytes and content type."""
        path = self._file(bucket, name, must_exist=True)
        data = path.read_bytes()
        meta = self.meta.get(bucket, name, path)
        return data, meta.content_type(name) if meta else "application/octet-stream"

    def copy(self, bucket: str, name: str, to_bucket: str, to_name: str,
             conditions: Mapping[str, str], fields: Mapping[str, Any]) -> dict[str, Any]:
        """Copy an object; the copy keeps the source's metadata but for ``fields``."""
        source = self._file(bucket, name, must_exist=True)
        source_meta = self.check(bucket, name, conditions, source=True)
        self.check(to_bucket, to_name, conditions)
        data = source.read_bytes()
        merged = {**(source_meta.fields if source_meta else {}), **writable(fields)}
        if "contentType" not in merged:
            merged["contentType"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return self.write(to_bucket, to_name, data, merged)

    def compose(self, bucket: str, name: str, body: Mapping[str, Any],
                conditions: Mapping[str, str]) -> dict[str, Any]:
        """Write object ``name`` as the concatenation of the compose request's sources."""
        sources = body.get("sourceObjects")
        if not isinstance(sources, list) or not sources:
            raise invalid_argument("compose needs sourceObjects: a list of {name} objects.")
        if len(sources) > _MAX_COMPOSE:
            raise invalid_argument(f"compose takes at most {_MAX_COMPOSE} source objects, "
                                   f"got {len(sources)}.")
        parts = []
        for index, source in enumerate(sources):
            if not isinstance(source, dict) or not isinstance(source.get("name"), str):
                raise invalid_argument(f"sourceObjects[{index}] needs a name.")
            path = self._file(bucket, source["name"], must_exist=True)
            wanted = source.get("objectPreconditions") or {}
            if not isinstance(wanted, dict):
                raise invalid_argument(
                    f"sourceObjects[{index}].objectPreconditions must be an object.")
            check_preconditions({f"if{k[2:]}": str(v) for k, v in wanted.items()
                                 if k.startswith("if")},
                                self.meta.get(bucket, source["name"], path))
            parts.append(path.read_bytes())
        self.check(bucket, name, conditions)
        destination = body.get("destination") or {}
        if not isinstance(destination, dict):
            raise invalid_argument("compose destination must be an object.")
        return self.write(bucket, name, b"".join(parts), writable(destination))

    def write(self, bucket: str, name: str, data: bytes,
              fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write the object (atomically) with the client-set ``fields``; its resource."""
        path = self._file(bucket, name, must_exist=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.meta.written(bucket, name, path, fields or {})
        return self.object(bucket, name, path)

    def _file(self, bucket: str, name: str, *, must_exist: bool) -> Path:
        self._bucket_dir(bucket)
        if not name or name.startswith(_TEMP_PREFIX) or "/" + _TEMP_PREFIX in name:
            raise invalid_argument(f"Invalid object name: {name!r}")
        try:
            path = self.root.local_path(f"gs://{bucket}/{name}")
        except GcsPathError as exc:
            raise invalid_argument(f"Invalid object name {name!r}: {exc}") from None
        if must_exist and not path.is_file():
            raise not_found(f"No such object: {bucket}/{name}")
        return path


def md5_hash(data: bytes) -> str:
    """Base64 MD5, as Cloud Storage's ``md5Hash`` and ``X-Goog-Hash`` give it."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def crc32c_hash(data: bytes) -> str:
    """Base64 big-endian CRC32C, as Cloud Storage's ``crc32c`` and ``X-Goog-Hash`` give it."""
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def _unpack_token(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error):
        raise invalid_argument(f"Invalid pageToken {token!r}.") from None


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
