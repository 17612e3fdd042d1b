"""A minimal Cloud Storage JSON API over the gs:// root directory: its HTTP side.

Enough of the API for the ``google-cloud-storage`` client with
``STORAGE_EMULATOR_HOST`` pointing here, for ``CustomJob.from_local_script``
uploading its package and for ``PipelineJob.submit`` checking or creating its
pipeline root's bucket: buckets (get, list, create, delete, IAM policy get and set:
kept, not enforced), objects (get, download, list with prefix and delimiter, delete,
patch, update), uploads (media, multipart, resumable), copy (``copyTo``), rewrite
(``rewriteTo``, always done in one call) and compose, with the ``if*Match``
preconditions. A bucket's ``projectNumber`` is that of the project it was created in,
or of the server's default project for a directory that was there already.
:class:`StorageApi` routes each request by its table, reads it and answers from
:class:`~.storage_files.StorageFiles`, the buckets and objects as directories and
files; ACLs, versions and retention are not kept. Object names in copy, rewrite and
compose paths must be %-encoded, as the clients do.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.fake_api.rpc import ApiError, invalid_argument, not_found
from cjob_emu.fake_api.storage_files import StorageFiles, crc32c_hash, md5_hash
from cjob_emu.fake_api.storage_meta import writable
from cjob_emu.fake_api.wire import JSON_TYPE, Request, Response, json_object

STORAGE_PREFIXES = ("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/")
"""The paths of the Cloud Storage JSON API (metadata, uploads, downloads)."""

Answer = Response | dict[str, Any] | None
"""What a handler returns: a response, a resource (200 JSON) or ``None`` (204)."""
Handler = Callable[[Request, dict[str, str], dict[str, str]], Answer]
"""``handler(request, query, path parameters)``."""


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    methods: Mapping[str, Handler]
    # What other HTTP methods get: an error, or (None) the next route that matches.
    otherwise: Callable[[str, str], ApiError] | None
    raw: bool = False  # matched on the %-encoded path; parameters are decoded after


def _path(pattern: str) -> re.Pattern[str]:
    """A path pattern matched against the whole %-decoded path (names may hold anything)."""
    return re.compile(rf"^{pattern}\Z", re.DOTALL)


def _not_allowed(method: str, path: str) -> ApiError:
    return ApiError("UNIMPLEMENTED", f"Method {method} is not supported on {path}.",
                    http_status=405)


def _no_such(kind: str) -> Callable[[str, str], ApiError]:
    return lambda method, path: not_found(f"No such {kind} path {path}.")


class StorageApi:
    """Cloud Storage's JSON API, answering from and writing to a :class:`GcsRoot`.

    ``owner(project)`` is the number of a bucket's project (``None``: a bucket nobody
    created here).
    """

    def __init__(self, root: GcsRoot,
                 owner: Callable[[str | None], str] = lambda project: "0") -> None:
        self.root = root
        self.files = StorageFiles(root)
        self._owner = owner
        self._projects: dict[str, str] = {}  # bucket -> the project it was created in
        self._policies: dict[str, dict[str, Any]] = {}  # bucket -> IAM policy set on it
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()
        object_action = r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>[^/]+)/"
        copy_to = r"/b/(?P<to_bucket>[^/]+)/o/(?P<to_name>[^/]+)$"
        self._routes = (
            _Route(_path(r"/upload/storage/v1/b/(?P<bucket>[^/]*)/o"),
                   {"POST": self._start_upload, "PUT": self._continue_upload}, _not_allowed),
            _Route(_path(r"/upload/storage/v1/b/.*"), {}, _no_such("upload")),
            _Route(_path(r"/download/storage/v1/b/(?P<bucket>.*?)/o/(?P<name>.+)"),
                   {"GET": self._download}, _no_such("download")),
            _Route(_path(r"/download/storage/v1/b/.*"), {}, _no_such("download")),
            _Route(re.compile(object_action + "copyTo" + copy_to), {"POST": self._copy}, None,
                   raw=True),
            _Route(re.compile(object_action + "rewriteTo" + copy_to), {"POST": self._rewrite},
                   None, raw=True),
            _Route(re.compile(object_action + "compose$"), {"POST": self._compose}, None,
                   raw=True),
            _Route(_path(r"/storage/v1/b"),
                   {"GET": self._list_buckets, "POST": self._create_bucket}, _not_allowed),
            _Route(_path(r"/storage/v1/b/(?P<bucket>[^/]*)/iam"),
                   {"GET": self._get_policy, "PUT": self._set_policy}, _not_allowed),
            _Route(_path(r"/storage/v1/b/(?P<bucket>[^/]*)/?"),
                   {"GET": self._get_bucket, "DELETE": self._delete_bucket}, _not_allowed),
            _Route(_path(r"/storage/v1/b/(?P<bucket>[^/]*)/o"), {"GET": self._list_objects},
                   _not_allowed),
            _Route(_path(r"/storage/v1/b/(?P<bucket>[^/]*)/o/(?P<name>.+)"),
                   {"GET": self._get_object, "DELETE": self._delete_object,
                    "PATCH": self._patch_object, "PUT": self._update_object}, _not_allowed),
        )

    def handle(self, request: Request, path: str) -> Response:
        """Answer ``request`` (``path`` already %-decoded); raises :class:`ApiError`.

        Resources carry absolute ``selfLink`` / ``mediaLink`` URLs on the address the
        client used (clients download from ``mediaLink``).
        """
        query = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        for route in self._routes:
            found = route.pattern.match(request.path if route.raw else path)
            if found is None:
                continue
            handler = route.methods.get(request.method)
            if handler is None:
                if route.otherwise is None:
                    continue
                raise route.otherwise(request.method, path)
            params = found.groupdict()
            if route.raw:
                params = {key: unquote(value) for key, value in params.items()}
            answer = handler(request, query, params)
            if answer is None:
                return Response(204, b"")
            return answer if isinstance(answer, Response) else _json(request.base, answer)
        raise not_found(f"No such storage path {path}.")

    # -- buckets ---------------------------------------------------------------------------

    def _list_buckets(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        listing = self.files.list_buckets()
        for bucket in listing["items"]:
            self._owned(bucket)
        return listing

    def _create_bucket(self, request: Request, query: dict[str, str], p: dict[str, str]
                       ) -> Answer:
        name = json_object(request.body, required=False).get("name")
        if not isinstance(name, str):
            raise invalid_argument("Bucket name is required.")
        created = self.files.create_bucket(name)
        if query.get("project"):
            with self._lock:
                self._projects[name] = query["project"]
        return self._owned(created)

    def _get_bucket(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        return self._owned(self.files.bucket(p["bucket"]))

    def _delete_bucket(self, request: Request, query: dict[str, str], p: dict[str, str]
                       ) -> Answer:
        self.files.delete_bucket(p["bucket"])
        with self._lock:
            self._projects.pop(p["bucket"], None)
            self._policies.pop(p["bucket"], None)
        return None

    def _owned(self, bucket: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = self._projects.get(bucket["name"])
        bucket["projectNumber"] = self._owner(project)
        return bucket

    def _get_policy(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        self.files.bucket(p["bucket"])  # 404 for no such bucket
        with self._lock:
            bindings = self._policies.get(p["bucket"], {}).get("bindings", [])
        return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{p['bucket']}",
                "version": 1, "etag": "CAE=", "bindings": bindings}

    def _set_policy(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        self.files.bucket(p["bucket"])
        bindings = json_object(request.body, required=True).get("bindings", [])
        if not isinstance(bindings, list):
            raise invalid_argument("Invalid IAM policy: bindings must be a list.")
        with self._lock:
            self._policies[p["bucket"]] = {"bindings": bindings}
        return self._get_policy(request, query, p)

    # -- objects -----------------------------------------------------------------------------

    def _list_objects(self, request: Request, query: dict[str, str], p: dict[str, str]
                      ) -> Answer:
        return self.files.list_objects(
            p["bucket"], prefix=query.get("prefix", ""), delimiter=query.get("delimiter", ""),
            max_results=query.get("maxResults"), page_token=query.get("pageToken", ""))

    def _get_object(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        self.files.check(p["bucket"], p["name"], query)
        if query.get("alt") == "media":
            return self._download(request, query, p)
        return self.files.object(p["bucket"], p["name"])

    def _delete_object(self, request: Request, query: dict[str, str], p: dict[str, str]
                       ) -> Answer:
        self.files.delete_object(p["bucket"], p["name"], query)
        return None

    def _patch_object(self, request: Request, query: dict[str, str], p: dict[str, str]
                      ) -> Answer:
        return self._change_object(request, query, p, replace=False)

    def _update_object(self, request: Request, query: dict[str, str], p: dict[str, str]
                       ) -> Answer:
        return self._change_object(request, query, p, replace=True)

    def _change_object(self, request: Request, query: dict[str, str], p: dict[str, str], *,
                       replace: bool) -> Answer:
        self.files.check(p["bucket"], p["name"], query, must_exist=True)
        changes = json_object(request.body, required=False)
        return self.files.update(p["bucket"], p["name"], changes, replace=replace)

    def _copy(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        return self._copied(request, query, p)

    def _rewrite(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        """A rewrite done in one call: a copy, said the rewrite way."""
        resource = self._copied(request, query, p)
        size = resource["size"]
        return {"kind": "storage#rewriteResponse", "totalBytesRewritten": size,
                "objectSize": size, "done": True, "resource": resource}

    def _copied(self, request: Request, query: dict[str, str], p: dict[str, str]
                ) -> dict[str, Any]:
        body = json_object(request.body, required=False)
        return self.files.copy(p["bucket"], p["name"], p["to_bucket"], p["to_name"], query, body)

    def _compose(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        body = json_object(request.body, required=False)
        return self.files.compose(p["bucket"], p["name"], body, query)

    def _download(self, request: Request, query: dict[str, str], p: dict[str, str]) -> Answer:
        data, content_type = self.files.read(p["bucket"], p["name"])
        headers = [
            ("Content-Type", content_type),
            ("X-Goog-Hash", f"crc32c={crc32c_hash(data)},md5={md5_hash(data)}"),
        ]
        wanted = _byte_range(request.headers.get("range"), len(data))
        if wanted is None:
            return Response(200, data, tuple(headers))
        start, end = wanted
        headers.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
        return Response(206, data[start : end + 1], tuple(headers))

    # -- uploads -----------------------------------------------------------------------------

    def _start_upload(self, request: Request, query: dict[str, str], p: dict[str, str]
                      ) -> Answer:
        bucket, kind = p["bucket"], query.get("uploadType", "")
        if kind == "media":
            name = query.get("name", "")
            self.files.check(bucket, name, query)
            fields = {}
            if request.headers.get("content-type"):
                fields["contentType"] = request.headers["content-type"]
            return self.files.write(bucket, name, request.body, fields)
        if kind == "multipart":
            metadata, data, media_type = _multipart(request)
            name = str(query.get("name") or metadata.get("name", ""))
            self.files.check(bucket, name, query)
            fields = writable(metadata)
            if "contentType" not in fields and media_type:
                fields["contentType"] = media_type
            return self.files.write(bucket, name, data, fields)
        if kind == "resumable":
            metadata = json_object(request.body, required=False)
            name = str(query.get("name") or metadata.get("name", ""))
            self.files.check(bucket, name, query)  # the name and the preconditions, now
            fields = writable(metadata)
            if "contentType" not in fields and request.headers.get("x-upload-content-type"):
                fields["contentType"] = request.headers["x-upload-content-type"]
            upload_id = secrets.token_urlsafe(16)
            with self._lock:
                self._uploads[upload_id] = _Upload(bucket, name, fields)
            location = (f"{request.base}/upload/storage/v1/b/{bucket}/o?uploadType=resumable"
                        f"&upload_id={upload_id}")
            return Response(200, b"", (("Location", location), ("Content-Type", JSON_TYPE)))
        raise invalid_argument(
            f"Unsupported uploadType {kind!r}; use media, multipart or resumable.")

    def _continue_upload(self, request: Request, query: dict[str, str], p: dict[str, str]
                         ) -> Answer:
        upload_id = query.get("upload_id", "")
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket != p["bucket"]:
            raise not_found(f"No such resumable upload: {upload_id!r}")
        header = request.headers.get("content-range")
        start, total = _content_range(header, len(request.body))
        with upload.lock:
            if start is not None:
                if start > len(upload.data):
                    raise invalid_argument(f"Chunk starts at {start}; only {len(upload.data)} "
                                           "bytes were received.")
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
        return self.files.write(p["bucket"], upload.name, data, upload.fields)


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
        raise invalid_argument("A multipart upload needs a multipart/related Content-Type with a "
                       "boundary.")
    separator = b"--" + match.group(1).encode()
    parts = request.body.split(separator)
    # ["", metadata part, media part, "--\r\n"]
    if len(parts) < 4:
        raise invalid_argument("A multipart upload needs a metadata part and a media part.")
    contents = []
    media_type = None
    for part in parts[1:3]:
        head, found, body = part.partition(b"\r\n\r\n")
        if not found:
            raise invalid_argument("Malformed multipart part: no blank line after its headers.")
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
        raise invalid_argument(f"Malformed Content-Range {header!r}.")
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


def _json(base: str, data: dict[str, Any]) -> Response:
    """A JSON answer; relative resource links made absolute on ``base``."""
    for resource in (data, data.get("resource"), *data.get("items", ())):
        if isinstance(resource, dict):
            for key in ("selfLink", "mediaLink"):
                if str(resource.get(key, "")).startswith("/"):
                    resource[key] = base + resource[key]
    return Response(200, json.dumps(data).encode("utf-8"))
