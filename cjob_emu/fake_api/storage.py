"""A minimal Cloud Storage JSON API over the gs:// root directory.

``gs://BUCKET/NAME`` is the file ``<root>/BUCKET/NAME``, the same file a replica
sees at ``/gcs/BUCKET/NAME``; a bucket is a directory. Enough of the API for the
``google-cloud-storage`` client with ``STORAGE_EMULATOR_HOST`` pointing here, and
for ``CustomJob.from_local_script`` uploading its package: buckets (get, list,
create, delete), objects (get, download, list with prefix and delimiter, delete,
patch, update), uploads (media, multipart, resumable), copy (``copyTo``), rewrite
(``rewriteTo``, always done in one call) and compose, with the ``if*Match``
preconditions. The bytes are the files; the metadata clients set lives in memory
beside them (see :mod:`.storage_meta`); ACLs, versions and retention are not kept.
Object names in copy, rewrite and compose paths must be %-encoded, as the clients do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import os
import re
import secrets
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from cjob_emu.errors import GcsPathError
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.rpc import ApiError, not_found
from cjob_emu.fake_api.storage_meta import (
    MetadataStore,
    ObjectMeta,
    check_preconditions,
    writable,
)
from cjob_emu.fake_api.wire import JSON_TYPE, Request, Response, json_object

STORAGE_PREFIXES = ("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/")
"""The paths of the Cloud Storage JSON API (metadata, uploads, downloads)."""

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_TEMP_PREFIX = ".cjob-emu-upload-"
_DEFAULT_MAX_RESULTS = 1000
_OBJECT_ACTION = re.compile(
    r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>[^/]+)/"
    r"(?:(?P<action>copyTo|rewriteTo)/b/(?P<to_bucket>[^/]+)/o/(?P<to_name>[^/]+)|compose)$"
)
_MAX_COMPOSE = 32


class StorageApi:
    """Cloud Storage's JSON API, answering from and writing to a :class:`GcsRoot`."""

    def __init__(self, root: GcsRoot) -> None:
        self.root = root
        self.meta = MetadataStore()
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()

    def handle(self, request: Request, path: str) -> Response:
        """Answer ``request`` (``path`` already %-decoded); raises :class:`ApiError`.

        Resources carry absolute ``selfLink`` / ``mediaLink`` URLs on the address the
        client used (clients download from ``mediaLink``).
        """
        query = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        method = request.method
        if path.startswith("/upload/storage/v1/b/"):
            bucket, _, rest = path[len("/upload/storage/v1/b/"):].partition("/")
            if rest != "o":
                raise not_found(f"No such upload path {path}.")
            if method == "POST":
                return self._start_upload(request, bucket, query)
            if method == "PUT":
                return self._continue_upload(request, bucket, query)
            raise _method(method, path)
        if path.startswith("/download/storage/v1/b/"):
            bucket, _, name = path[len("/download/storage/v1/b/"):].partition("/o/")
            if method != "GET" or not name:
                raise not_found(f"No such download path {path}.")
            return self._download(request, bucket, name)
        action = _OBJECT_ACTION.match(request.path) if method == "POST" else None
        if action is not None:
            return _json(request.base, self._object_action(request, query, action))
        rest = path[len("/storage/v1/"):]
        if rest == "b":
            if method == "GET":
                return _json(request.base, self._list_buckets())
            if method == "POST":
                return _json(request.base, self._create_bucket(request))
            raise _method(method, path)
        if not rest.startswith("b/"):
            raise not_found(f"No such storage path {path}.")
        bucket, _, tail = rest[2:].partition("/")
        if not tail:
            if method == "GET":
                return _json(request.base, self._bucket(bucket))
            if method == "DELETE":
                self._delete_bucket(bucket)
                return Response(204, b"")
            raise _method(method, path)
        if tail == "o":
            if method == "GET":
                return _json(request.base, self._list_objects(bucket, query))
            raise _method(method, path)
        if tail.startswith("o/") and len(tail) > 2:
            name = tail[2:]
            if method == "GET":
                self._check(bucket, name, query)
                if query.get("alt") == "media":
                    return self._download(request, bucket, name)
                return _json(request.base, self._object(bucket, name))
            if method == "DELETE":
                self._check(bucket, name, query)
                self._file(bucket, name, must_exist=True).unlink()
                self.meta.forget(bucket, name)
                return Response(204, b"")
            if method in ("PATCH", "PUT"):
                updated = self._update(request, bucket, name, query, replace=method == "PUT")
                return _json(request.base, updated)
            raise _method(method, path)
        raise not_found(f"No such storage path {path}.")

    # -- buckets ---------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        if not _BUCKET_NAME.match(bucket) or ".." in bucket:
            raise _invalid(f"Invalid bucket name: {bucket!r}")
        path = self.root.path / bucket
        if must_exist and not path.is_dir():
            raise _not_found(f"The specified bucket does not exist: {bucket}")
        return path

    def _bucket(self, bucket: str) -> dict[str, Any]:
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

    def _list_buckets(self) -> dict[str, Any]:
        names = sorted(p.name for p in self.root.path.iterdir()
                       if p.is_dir() and _BUCKET_NAME.match(p.name))
        return {"kind": "storage#buckets", "items": [self._bucket(n) for n in names]}

    def _create_bucket(self, request: Request) -> dict[str, Any]:
        body = json_object(request.body, required=False)
        name = body.get("name")
        if not isinstance(name, str):
            raise _invalid("Bucket name is required.")
        path = self._bucket_dir(name, must_exist=False)
        if path.exists():
            raise ApiError("ALREADY_EXISTS", f"Your previous request to create the named bucket "
                           f"succeeded and you already own it: {name}", http_status=409)
        path.mkdir(parents=True)
        return self._bucket(name)

    def _delete_bucket(self, bucket: str) -> None:
        path = self._bucket_dir(bucket)
        if any(path.iterdir()):
            raise ApiError("ABORTED", f"The bucket you tried to delete is not empty: {bucket}",
                           http_status=409)
        path.rmdir()

    # -- objects -----------------------------------------------------------------------------

    def _file(self, bucket: str, name: str, *, must_exist: bool) -> Path:
        self._bucket_dir(bucket)
        if not name or name.startswith(_TEMP_PREFIX) or "/" + _TEMP_PREFIX in name:
            raise _invalid(f"Invalid object name: {name!r}")
        try:
            path = self.root.local_path(f"gs://{bucket}/{name}")
        except GcsPathError as exc:
            raise _invalid(f"Invalid object name {name!r}: {exc}") from None
        if must_exist and not path.is_file():
            raise _not_found(f"No such object: {bucket}/{name}")
        return path

    def _object(self, bucket: str, name: str, path: Path | None = None) -> dict[str, Any]:
        path = path or self._file(bucket, name, must_exist=True)
        data = path.read_bytes()
        stat = path.stat()
        meta = self.meta.get(bucket, name, path)
        if meta is None:
            raise _not_found(f"No such object: {bucket}/{name}")
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
            "md5Hash": _md5(data),
            "crc32c": _crc32c(data),
            "etag": _md5(data),
            "timeCreated": _rfc3339(stat.st_mtime),
            "updated": _rfc3339(stat.st_mtime),
        }

    def _list_objects(self, bucket: str, query: dict[str, str]) -> dict[str, Any]:
        base = self._bucket_dir(bucket)
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        try:
            limit = int(query.get("maxResults") or _DEFAULT_MAX_RESULTS)
        except ValueError:
            raise _invalid(f"Invalid maxResults: {query.get('maxResults')!r}") from None
        after = _unpack_token(query.get("pageToken", ""))
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
            result["items"] = [self._object(bucket, n, base / n) for n in items]
        if prefixes:
            result["prefixes"] = prefixes
        if more:
            result["nextPageToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return result

    def _check(self, bucket: str, name: str, query: dict[str, str], *,
               source: bool = False) -> ObjectMeta | None:
        """The object's metadata now (``None``: missing) after checking ``if*Match``."""
        meta = self.meta.get(bucket, name, self._file(bucket, name, must_exist=False))
        check_preconditions(query, meta, source=source)
        return meta

    def _update(self, request: Request, bucket: str, name: str, query: dict[str, str], *,
                replace: bool) -> dict[str, Any]:
        path = self._file(bucket, name, must_exist=True)
        self._check(bucket, name, query)
        changes = json_object(request.body, required=False)
        self.meta.update(bucket, name, path, changes, replace=replace)
        return self._object(bucket, name, path)

    def _object_action(self, request: Request, query: dict[str, str],
                       match: re.Match[str]) -> dict[str, Any]:
        """copyTo, rewriteTo (done in one call) and compose."""
        bucket, name = unquote(match["bucket"]), unquote(match["name"])
        body = json_object(request.body, required=False)
        if match["action"] is None:  # compose: ``name`` is the destination
            return self._compose(bucket, name, body, query)
        to_bucket, to_name = unquote(match["to_bucket"]), unquote(match["to_name"])
        source = self._file(bucket, name, must_exist=True)
        source_meta = self._check(bucket, name, query, source=True)
        self._check(to_bucket, to_name, query)
        data = source.read_bytes()
        # The copy has the source's metadata unless the request gives its own.
        fields = {**(source_meta.fields if source_meta else {}), **writable(body)}
        if "contentType" not in fields:
            fields["contentType"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
        resource = self._store(to_bucket, to_name, data, fields)
        if match["action"] == "copyTo":
            return resource
        return {"kind": "storage#rewriteResponse", "totalBytesRewritten": str(len(data)),
                "objectSize": str(len(data)), "done": True, "resource": resource}

    def _compose(self, bucket: str, name: str, body: dict[str, Any],
                 query: dict[str, str]) -> dict[str, Any]:
        sources = body.get("sourceObjects")
        if not isinstance(sources, list) or not sources:
            raise _invalid("compose needs sourceObjects: a list of {name} objects.")
        if len(sources) > _MAX_COMPOSE:
            raise _invalid(f"compose takes at most {_MAX_COMPOSE} source objects, "
                           f"got {len(sources)}.")
        parts = []
        for index, source in enumerate(sources):
            if not isinstance(source, dict) or not isinstance(source.get("name"), str):
                raise _invalid(f"sourceObjects[{index}] needs a name.")
            path = self._file(bucket, source["name"], must_exist=True)
            conditions = source.get("objectPreconditions") or {}
            if not isinstance(conditions, dict):
                raise _invalid(f"sourceObjects[{index}].objectPreconditions must be an object.")
            check_preconditions({f"if{k[2:]}": str(v) for k, v in conditions.items()
                                 if k.startswith("if")},
                                self.meta.get(bucket, source["name"], path))
            parts.append(path.read_bytes())
        self._check(bucket, name, query)
        destination = body.get("destination") or {}
        if not isinstance(destination, dict):
            raise _invalid("compose destination must be an object.")
        return self._store(bucket, name, b"".join(parts), writable(destination))

    def _download(self, request: Request, bucket: str, name: str) -> Response:
        path = self._file(bucket, name, must_exist=True)
        data = path.read_bytes()
        meta = self.meta.get(bucket, name, path)
        headers = [
            ("Content-Type", meta.content_type(name) if meta else "application/octet-stream"),
            ("X-Goog-Hash", f"crc32c={_crc32c(data)},md5={_md5(data)}"),
        ]
        wanted = _byte_range(request.headers.get("range"), len(data))
        if wanted is None:
            return Response(200, data, tuple(headers))
        start, end = wanted
        headers.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
        return Response(206, data[start : end + 1], tuple(headers))

    # -- uploads -----------------------------------------------------------------------------

    def _start_upload(self, request: Request, bucket: str, query: dict[str, str]) -> Response:
        kind = query.get("uploadType", "")
        if kind == "media":
            name = query.get("name", "")
            self._check(bucket, name, query)
            fields = {}
            if request.headers.get("content-type"):
                fields["contentType"] = request.headers["content-type"]
            return _json(request.base, self._store(bucket, name, request.body, fields))
        if kind == "multipart":
            metadata, data, media_type = _multipart(request)
            name = str(query.get("name") or metadata.get("name", ""))
            self._check(bucket, name, query)
            fields = writable(metadata)
            if "contentType" not in fields and media_type:
                fields["contentType"] = media_type
            return _json(request.base, self._store(bucket, name, data, fields))
        if kind == "resumable":
            metadata = json_object(request.body, required=False)
            name = str(query.get("name") or metadata.get("name", ""))
            self._check(bucket, name, query)  # the name and the preconditions, now
            fields = writable(metadata)
            if "contentType" not in fields and request.headers.get("x-upload-content-type"):
                fields["contentType"] = request.headers["x-upload-content-type"]
            upload_id = secrets.token_urlsafe(16)
            with self._lock:
                self._uploads[upload_id] = _Upload(bucket, name, fields)
            location = (f"{request.base}/upload/storage/v1/b/{bucket}/o?uploadType=resumable"
                        f"&upload_id={upload_id}")
            return Response(200, b"", (("Location", location), ("Content-Type", JSON_TYPE)))
        raise _invalid(f"Unsupported uploadType {kind!r}; use media, multipart or resumable.")

    def _continue_upload(self, request: Request, bucket: str, query: dict[str, str]) -> Response:
        upload_id = query.get("upload_id", "")
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket != bucket:
            raise _not_found(f"No such resumable upload: {upload_id!r}")
        header = request.headers.get("content-range")
        start, total = _content_range(header, len(request.body))
        with upload.lock:
            if start is not None:
                if start > len(upload.data):
                    raise _invalid(f"Chunk starts at {start}; only {len(upload.data)} bytes "
                                   "were received.")
                del upload.data[start:]
                upload.data += request.body
            if total is None or len(upload.data) < total:
                headers: tuple[tuple[str, str], ...] = ()
                if upload.data:
                    headers = (("Range", f"bytes=0-{len(upload.data) - 1}"),)
                return Response(308, b"", headers)
            data = bytes(upload.data)
        with self._lock:
            self._uploads.pop(upload_id, None)
        return _json(request.base, self._store(bucket, upload.name, data, upload.fields))

    def _store(self, bucket: str, name: str, data: bytes,
               fields: dict[str, Any] | None = None) -> dict[str, Any]:
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
        return self._object(bucket, name, path)


class _Upload:
    def __init__(self, bucket: str, name: str, fields: dict[str, Any]) -> None:
        self.bucket = bucket
        self.name = name
        self.fields = fields
        self.data = bytearray()
        self.lock = threading.Lock()


def _multipart(request: Request) -> tuple[dict[str, Any], bytes, str | None]:
    """The metadata, the media and the media's Content-Type of a ``multipart/related``
    upload body."""
    content_type = request.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise _invalid("A multipart upload needs a multipart/related Content-Type with a "
                       "boundary.")
    separator = b"--" + match.group(1).encode()
    parts = request.body.split(separator)
    # ["", metadata part, media part, "--\r\n"]
    if len(parts) < 4:
        raise _invalid("A multipart upload needs a metadata part and a media part.")
    contents = []
    media_type = None
    for part in parts[1:3]:
        head, found, body = part.partition(b"\r\n\r\n")
        if not found:
            raise _invalid("Malformed multipart part: no blank line after its headers.")
        contents.append(body[:-2] if body.endswith(b"\r\n") else body)
        typed = re.search(rb"(?im)^content-type:[ \t]*([^\r\n]+)", head)
        media_type = typed.group(1).decode("latin-1").strip() if typed else None
    metadata = json_object(contents[0], required=False)
    return metadata, contents[1], media_type


def _content_range(header: str | None, length: int) -> tuple[int | None, int | None]:
    """``(first byte, total or None)`` of a resumable chunk's ``Content-Range``."""
    if not header:
        return (0 if length else None), (length if length else None)
    match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", header.strip())
    if match is None:
        raise _invalid(f"Malformed Content-Range {header!r}.")
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header:
        return None
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if start >= size or start > end:
        raise ApiError("OUT_OF_RANGE", f"Requested range not satisfiable: {header}",
                       http_status=416)
    return start, end


def _unpack_token(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error):
        raise _invalid(f"Invalid pageToken {token!r}.") from None


def _json(base: str, data: dict[str, Any]) -> Response:
    """A JSON answer; relative resource links made absolute on ``base``."""
    for resource in (data, data.get("resource"), *data.get("items", ())):
        if isinstance(resource, dict):
            for key in ("selfLink", "mediaLink"):
                if str(resource.get(key, "")).startswith("/"):
                    resource[key] = base + resource[key]
    return Response(200, json.dumps(data).encode("utf-8"))


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def _not_found(message: str) -> ApiError:
    return not_found(message)


def _method(method: str, path: str) -> ApiError:
    return ApiError("UNIMPLEMENTED", f"Method {method} is not supported on {path}.",
                    http_status=405)
