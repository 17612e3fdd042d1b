"""A local directory standing in for Cloud Storage.

On Vertex ``gs://BUCKET/PATH`` and ``/gcs/BUCKET/PATH`` (Cloud Storage FUSE) are the
same object. Here both are ``<root>/BUCKET/PATH``: the docker backend mounts the
root at ``/gcs``; the process backend rewrites ``/gcs/...`` to the root.

Default root: ``./.cjob-emu/gcs`` under the current directory (:data:`DEFAULT_ROOT`),
so what a run writes is still there to inspect after it. A path that leaves the
root (``..``, an absolute path, a symlink pointing out) is refused with
:class:`~cjob_emu.errors.GcsPathError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cjob_emu.errors import EnvironmentProblem, GcsPathError

MOUNT_POINT = "/gcs"
"""Where Vertex mounts Cloud Storage in every replica."""

DEFAULT_ROOT = Path(".cjob-emu") / "gcs"
"""The root used when none is given, relative to the current directory."""

_MOUNT_REFERENCE = re.compile(r"(?<![\w./-])/gcs(?=/|$|[\s:;,='\"])")
_URI_REFERENCE = re.compile(r"(?<![\w./-])gs://")


@dataclass(frozen=True)
class GcsRoot:
    """The local directory that holds every emulated bucket.

    Build it with :meth:`at`, which makes the path absolute and resolves symlinks,
    so containment checks compare real paths.
    """

    path: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None, *, create: bool = True) -> GcsRoot:
        """The root at ``root`` (default :data:`DEFAULT_ROOT`), created unless ``create=False``."""
        path = Path(root) if root is not None else DEFAULT_ROOT
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return cls(path.expanduser().resolve())

    def local_path(self, location: str) -> Path:
        """The host path of ``gs://B/P`` or ``/gcs/B/P``; refuses anything that leaves the root."""
        if location.startswith("gs://"):
            relative = location[len("gs://") :]
        elif location == MOUNT_POINT or location.startswith(MOUNT_POINT + "/"):
            relative = location[len(MOUNT_POINT) :].lstrip("/")
        else:
            raise GcsPathError(f"{location!r} is neither a gs:// URI nor a /gcs/ path")
        bucket = relative.split("/", 1)[0]
        if not bucket:
            raise GcsPathError(f"{location!r} names no bucket")
        return self.contained(self.path / relative, location)

    def contained(self, path: str | os.PathLike[str], what: str | None = None) -> Path:
        """``path`` with symlinks resolved, if it lies inside the root; else GcsPathError."""
        pure = PurePosixPath(os.fspath(path))
        if ".." in pure.parts:
            raise GcsPathError(f"{what or path!r} uses '..'; paths must stay inside the gs:// root")
        real = Path(path).resolve()
        if real != self.path and self.path not in real.parents:
            raise GcsPathError(
                f"{what or path!r} resolves to {real}, outside the gs:// root {self.path}"
            )
        return real

    def package_path(self, uri: str) -> Path:
        """The host file of a Python package URI: gs:// and /gcs/ map into the root, any
        other value is a local path. :class:`EnvironmentProblem` when it is missing."""
        is_gcs = uri.startswith("gs://") or uri.startswith(MOUNT_POINT + "/")
        path = self.local_path(uri) if is_gcs else Path(uri).expanduser().resolve()
        if not path.is_file():
            raise EnvironmentProblem(f"Python package {uri} not found (looked for {path})")
        return path

    def uri(self, path: str | os.PathLike[str]) -> str:
        """The ``gs://`` URI of a host path inside the root."""
        return "gs://" + self._relative(path)

    def mount_path(self, path: str | os.PathLike[str]) -> str:
        """The ``/gcs/...`` path a replica sees for a host path inside the root."""
        return f"{MOUNT_POINT}/{self._relative(path)}"

    def holds(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (symlinks resolved) lies inside the root."""
        real = Path(path).resolve()
        return real == self.path or self.path in real.parents

    def rewrite_mounts(self, text: str) -> str:
        """``text`` with each ``/gcs`` path prefix replaced by the root (for host processes).

        Only ``/gcs`` at the start of a path is touched (``/gcs/b/x``, ``--out=/gcs/b``),
        never ``/data/gcs/x`` or ``/gcsfoo``.
        """
        return _MOUNT_REFERENCE.sub(lambda _: str(self.path), text)

    def host_paths(self, text: str) -> str:
        """``text`` with ``/gcs`` paths and ``gs://`` URIs turned into paths under the root.

        For replicas that run on the host: ``gs://b/x`` and ``/gcs/b/x`` both become
        ``<root>/b/x``, so plain file I/O (and code that reads gs:// as /gcs/) works.
        """
        return _URI_REFERENCE.sub(lambda _: str(self.path) + "/", self.rewrite_mounts(text))

    def _relative(self, path: str | os.PathLike[str]) -> str:
        real = self.contained(path)
        relative = real.relative_to(self.path).as_posix()
        if relative == ".":
            raise GcsPathError(f"{path!r} is the gs:// root itself, not inside a bucket")
        return relative
