"""Build a local training package into an image, as ``gcloud ai custom-jobs local-run`` does.

gcloud writes a Dockerfile on the executor image (its ``command_lib/ai/docker/build.py``):
a working directory ``/usr/app`` open to every user, ``HOME=/home``, the dependencies
(the package's ``requirements.txt``, ``extra-packages``, then ``requirements``), the
directory of the script (or module) and the ``extra-dirs``, and an ENTRYPOINT running the
script or module (:meth:`~cjob_emu.gcloud_flags.LocalPackage.entrypoint`). Here it is built
with the docker SDK into a local image, never pushed: the executor image must already be on
the engine (nothing is pulled), and the build has a network only when there are requirements
(``requirements`` or ``requirements.txt``) for pip to fetch.
A ``setup.py`` is not installed (gcloud runs ``pip install .`` on it): list its
dependencies in ``requirements.txt``.

The image is tagged ``output-image-uri`` when given, else
``cjob-emu/package-<name>:<digest>``, and labelled with the digest of the build context
(the Dockerfile, every copied file) and of the executor image's id: building an unchanged
package again is a no-op, any change (source, requirements, base image) builds anew.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError, BuildError, ImageNotFound

from cjob_emu.errors import EnvironmentProblem, InputError
from cjob_emu.gcloud_flags import LocalPackage
from cjob_emu.images import NAME_LABEL, RECIPE_LABEL, REPOSITORY_PREFIX, recipe_digest

WORKDIR = "/usr/app"
HOME = "/home"
SOURCE_DIR = "src"
"""Where the package's files go in the build context, apart from the generated Dockerfile."""
REQUIREMENTS_FILE = "requirements.txt"
_SKIPPED = ("__pycache__", ".git")


@dataclass(frozen=True)
class PackageImage:
    """The image of a local package: its tag, id, and whether this call built it."""

    tag: str
    image_id: str
    built: bool
    seconds: float

    def describe(self) -> str:
        action = "built" if self.built else "cached"
        return f"{action} {self.tag} ({self.image_id[7:19]}) in {self.seconds:.1f}s"


def check_package(package: LocalPackage) -> Path:
    """The package's directory; InputError when it or the script (module) is not there."""
    root = Path(package.path)
    if not root.is_dir():
        raise InputError(f"--local-package-path {package.path}: no such directory")
    if not (root / package.main_file).is_file():
        flag = "--script" if package.script is not None else "--python-module"
        raise InputError(f"{flag}: file {package.main_file!r} is not found under {package.path}")
    return root


def package_files(package: LocalPackage) -> dict[str, bytes]:
    """The files the image gets, by path relative to the package: the copied directories,
    ``requirements.txt`` and the extra packages. InputError for what is not there."""
    root = check_package(package)
    files: dict[str, bytes] = {}
    for directory in package.copied_dirs():
        if not (root / directory).is_dir():
            raise InputError(f"--extra-dirs: directory {directory!r} is not found under {root}")
        files.update(_tree(root, directory))
    for name in (REQUIREMENTS_FILE, *package.extra_packages):
        path = root / name
        if path.is_file():
            files[posixpath.normpath(name)] = path.read_bytes()
        elif name != REQUIREMENTS_FILE:
            raise InputError(f"--extra-packages: file {name!r} is not found under {root}")
    return files


def _tree(root: Path, directory: str) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / directory).rglob("*"))
        if path.is_file() and not any(part in _SKIPPED for part in path.relative_to(root).parts)
    }


def dockerfile(package: LocalPackage, base: str, files: dict[str, bytes]) -> str:
    """The Dockerfile gcloud would write for ``package`` on the image ``base``."""
    lines = [
        f"FROM {base}",
        f"RUN mkdir -m 777 -p {WORKDIR} {HOME}",
        f"WORKDIR {WORKDIR}",
        f"ENV HOME={HOME}",
        "ENV PYTHONDONTWRITEBYTECODE=1",
    ]
    pip = "python3 -m pip install --no-cache-dir"
    if REQUIREMENTS_FILE in files:
        lines.append(_copy(REQUIREMENTS_FILE, f"./{REQUIREMENTS_FILE}"))
        lines.append(f"RUN {pip} -r ./{REQUIREMENTS_FILE}")
    for extra in package.extra_packages:
        name = posixpath.basename(extra)
        lines.append(_copy(posixpath.normpath(extra), name))
        lines.append(f"RUN {pip} {shlex.quote(name)}")
    if package.requirements:
        lines.append(f"RUN {pip} --upgrade {' '.join(map(shlex.quote, package.requirements))}")
    for directory in package.copied_dirs():
        lines.append(_copy(directory, directory))
    lines.append(f"ENTRYPOINT {json.dumps(package.entrypoint())}")
    return "\n".join(lines) + "\n"


def _copy(source: str, target: str) -> str:
    return f"COPY {json.dumps([posixpath.join(SOURCE_DIR, source), target])}"


def ensure_package_image(
    client: Any,
    package: LocalPackage,
    *,
    base: str | None = None,
    log: Callable[[str], None] = print,
) -> PackageImage:
    """The image of ``package``, built unless one of the same digest exists.

    ``base`` is the local image standing for the executor image (default: the executor
    image URI itself). EnvironmentProblem when it is not on the engine or the build fails.
    """
    started = time.monotonic()
    base = base or package.executor_image_uri
    try:
        base_id = str(client.images.get(base).id)
    except ImageNotFound:
        mapped = (
            ""
            if base != package.executor_image_uri
            else (f", or map it to a local image with --image-map {package.executor_image_uri}=TAG")
        )
        raise EnvironmentProblem(
            f"the executor image {base} is not on the Docker engine (nothing is pulled for a "
            f"local package): build or pull it first{mapped}"
        ) from None
    files = package_files(package)
    recipe = dockerfile(package, base, files)
    context = {"Dockerfile": recipe.encode(), **{f"{SOURCE_DIR}/{k}": v for k, v in files.items()}}
    digest = recipe_digest(context, parent=base_id)
    default_tag = f"{REPOSITORY_PREFIX}package-{_repository(package.name)}:{digest[:12]}"
    tag = package.output_image_uri or default_tag
    existing = _image_with_digest(client, tag, digest)
    if existing is not None:
        return PackageImage(tag, existing, False, time.monotonic() - started)
    log(f"building {tag} from {package.path} on {base}")
    try:
        image, _ = client.images.build(
            fileobj=_tar(context),
            custom_context=True,
            tag=tag,
            labels={RECIPE_LABEL: digest, NAME_LABEL: "package"},
            pull=False,
            # no network unless pip must reach an index: an engine need not have a bridge
            network_mode=None if _needs_index(package, files) else "none",
            rm=True,
            forcerm=True,
        )
    except BuildError as exc:
        text = "".join(str(c.get("stream") or c.get("error") or "") for c in exc.build_log)
        tail = "\n".join(text.strip().splitlines()[-20:])
        raise EnvironmentProblem(f"building {tag} failed: {exc.msg}\n{tail}") from None
    except APIError as exc:
        raise EnvironmentProblem(f"building {tag} failed: {exc}") from None
    return PackageImage(tag, str(image.id), True, time.monotonic() - started)


def _needs_index(package: LocalPackage, files: dict[str, bytes]) -> bool:
    """True when the build installs requirements (from an index), not only local archives."""
    return bool(package.requirements) or REQUIREMENTS_FILE in files


def _repository(name: str) -> str:
    """``name`` as a Docker repository name component (lower case, [a-z0-9._-])."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "main"


def _image_with_digest(client: Any, tag: str, digest: str) -> str | None:
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return None
    return str(image.id) if (image.labels or {}).get(RECIPE_LABEL) == digest else None


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644  # read by any user; scripts run through their interpreter
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer
