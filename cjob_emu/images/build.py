"""Build the local container images cjob-emu runs jobs in, with no image registry.

The base image is a Debian root filesystem made by debootstrap and imported into the engine.
Images on top of it are recipe directories (a Dockerfile and a requirements.txt of wheels):
the wheels are downloaded on the host, for the image's Python, and installed offline. The
requirements are taken as a complete list, without their dependencies (``--no-deps``, as
KFP's own component command installs kfp): a recipe pins every wheel it needs.
Every image carries the hash of its recipe in a label, so building an unchanged recipe again
is a no-op and a changed recipe builds anew.

The Debian root filesystem is :mod:`.debian`'s. ``python -m cjob_emu.images build``
builds the base image and every recipe under cjob_emu/image_recipes (package data);
``python -m cjob_emu.images tag test`` prints its tag.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, DockerException, ImageNotFound

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.images.debian import (
    debian_mirror,
    debootstrap,
    tar_rootfs,
    trim_rootfs,
    unmount_below,
)

RECIPE_LABEL = "cjob-emu.recipe"
NAME_LABEL = "cjob-emu.image"
REPOSITORY_PREFIX = "cjob-emu/"
RECIPES_DIR = Path(__file__).resolve().parent.parent / "image_recipes"
SCRATCH_DIR = Path("/var/tmp")
REQUIREMENTS_FILE = "requirements.txt"
WHEELS_DIR = "wheels"

Log = Callable[[str], None]


def _stderr_log(message: str) -> None:
    print(f"cjob-emu images: {message}", file=sys.stderr, flush=True)


def recipe_digest(files: Mapping[str, bytes], parent: str = "") -> str:
    """Hash of a recipe: its files by relative path and content, and its parent's digest."""
    sha = hashlib.sha256()
    sha.update(f"parent\0{parent}\0".encode())
    for name in sorted(files):
        content = files[name]
        sha.update(f"file\0{name}\0{len(content)}\0".encode())
        sha.update(content)
    return sha.hexdigest()


@dataclass(frozen=True)
class BaseRecipe:
    """A minimal Debian with Python, bootstrapped from the machine's apt mirror."""

    suite: str = "bookworm"
    # What the suite ships; wheels are downloaded for exactly this interpreter and libc.
    python_version: str = "3.11"
    glibc_minor: int = 36
    packages: tuple[str, ...] = ("python3", "python3-pip", "python3-venv")
    variant: str = "minbase"
    config: tuple[str, ...] = (
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        # Vertex's prebuilt containers let a job `pip install`; Debian's python refuses without.
        "ENV PIP_BREAK_SYSTEM_PACKAGES=1",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
        'CMD ["python3"]',
    )

    @property
    def name(self) -> str:
        return "base"

    @property
    def tag(self) -> str:
        return f"{REPOSITORY_PREFIX}base:{self.suite}"

    def digest(self) -> str:
        """Hash of everything that decides the base image's contents."""
        recipe = {
            "builder": "debootstrap",
            "suite": self.suite,
            "variant": self.variant,
            "packages": sorted(self.packages),
            "config": list(self.config),
        }
        return recipe_digest({"recipe.json": json.dumps(recipe, sort_keys=True).encode()})


@dataclass(frozen=True)
class ImageRecipe:
    """A directory with a Dockerfile built FROM the base image (build arg BASE).

    Its requirements.txt lists wheels to install offline; the build context gets them in
    ``wheels/``.
    """

    directory: Path
    base: BaseRecipe = field(default_factory=BaseRecipe)

    @property
    def name(self) -> str:
        return self.directory.name

    def files(self) -> dict[str, bytes]:
        """The recipe's files by path relative to its directory."""
        if not (self.directory / "Dockerfile").is_file():
            raise EnvironmentProblem(f"image recipe {self.directory} has no Dockerfile")
        return {
            path.relative_to(self.directory).as_posix(): path.read_bytes()
            for path in sorted(self.directory.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }

    def digest(self) -> str:
        """Hash of the recipe's files and of its base recipe."""
        return recipe_digest(self.files(), parent=self.base.digest())

    @property
    def tag(self) -> str:
        return f"{REPOSITORY_PREFIX}{self.name}:{self.digest()[:12]}"

    def requirements(self) -> list[str]:
        """The requirement lines of requirements.txt, comments and blanks dropped."""
        path = self.directory / REQUIREMENTS_FILE
        if not path.is_file():
            return []
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return [line for line in lines if line]


def recipe(name: str, recipes_dir: Path = RECIPES_DIR) -> ImageRecipe:
    """The recipe called ``name`` (a subdirectory of ``recipes_dir``)."""
    directory = recipes_dir / name
    if not (directory / "Dockerfile").is_file():
        raise EnvironmentProblem(f"no image recipe {name!r}: {directory}/Dockerfile is missing")
    return ImageRecipe(directory)


def all_recipes(recipes_dir: Path = RECIPES_DIR) -> list[ImageRecipe]:
    """Every recipe under ``recipes_dir``, by name."""
    if not recipes_dir.is_dir():
        raise EnvironmentProblem(f"image recipes directory {recipes_dir} does not exist")
    return [ImageRecipe(d.parent) for d in sorted(recipes_dir.glob("*/Dockerfile"))]


@dataclass(frozen=True)
class BuildOutcome:
    """What ensuring one image did."""

    name: str
    tag: str
    image_id: str
    built: bool
    seconds: float

    def describe(self) -> str:
        action = "built" if self.built else "cached"
        return f"{self.name}: {action} {self.tag} ({self.image_id[7:19]}) in {self.seconds:.1f}s"


def engine_client() -> Any:
    """A docker client whose engine answers; EnvironmentProblem if none does."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(f"no Docker engine answers: {exc}") from exc
    return client


def ensure_base_image(
    client: Any,
    base: BaseRecipe | None = None,
    *,
    mirror: str | None = None,
    log: Log = _stderr_log,
) -> BuildOutcome:
    """The base image, bootstrapped and imported unless an image of this recipe exists."""
    base = base or BaseRecipe()
    started = time.monotonic()
    digest = base.digest()
    existing = _image_with_digest(client, base.tag, digest)
    if existing is not None:
        return BuildOutcome(base.name, base.tag, existing, False, time.monotonic() - started)
    mirror = mirror or os.environ.get("CJOB_EMU_DEBIAN_MIRROR") or debian_mirror(base.suite)
    log(f"bootstrapping {base.tag} from {mirror} (debootstrap takes a few minutes, once)")
    with _scratch_dir("cjob-emu-rootfs-") as scratch:
        rootfs = scratch / "rootfs"
        debootstrap(base, rootfs, mirror, scratch / "debootstrap.log", log)
        trim_rootfs(rootfs)
        archive = scratch / "rootfs.tar"
        tar_rootfs(rootfs, archive)
        shutil.rmtree(rootfs)
        log(f"importing {archive.stat().st_size // 2**20} MiB root filesystem as {base.tag}")
        repository, tag = base.tag.rsplit(":", 1)
        changes = [*base.config, f"LABEL {RECIPE_LABEL}={digest}", f"LABEL {NAME_LABEL}=base"]
        try:
            client.api.import_image_from_file(
                str(archive), repository=repository, tag=tag, changes=changes
            )
        except APIError as exc:
            raise EnvironmentProblem(f"importing {base.tag} failed: {exc}") from exc
    image_id = _image_with_digest(client, base.tag, digest)
    if image_id is None:
        raise EnvironmentProblem(f"{base.tag} was imported but the engine does not show it")
    return BuildOutcome(base.name, base.tag, image_id, True, time.monotonic() - started)


def ensure_image(
    client: Any,
    image: ImageRecipe,
    *,
    mirror: str | None = None,
    log: Log = _stderr_log,
) -> BuildOutcome:
    """The recipe's image (and its base), built unless an image of this recipe exists."""
    started = time.monotonic()
    base = ensure_base_image(client, image.base, mirror=mirror, log=log)
    if base.built:
        log(base.describe())
    digest = image.digest()
    tag = image.tag
    existing = _image_with_digest(client, tag, digest)
    if existing is not None:
        return BuildOutcome(image.name, tag, existing, False, time.monotonic() - started)
    log(f"building {tag} from {image.directory}")
    with _scratch_dir("cjob-emu-build-") as context:
        for name, content in image.files().items():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            (context / name).write_bytes(content)
        wheels = context / WHEELS_DIR
        wheels.mkdir(exist_ok=True)
        requirements = image.requirements()
        if requirements:
            log(f"downloading {len(requirements)} requirement(s) and their wheels for the image")
            download_wheels(context / REQUIREMENTS_FILE, wheels, image.base)
        try:
            built, _ = client.images.build(
                path=str(context),
                tag=tag,
                buildargs={"BASE": base.tag},
                labels={RECIPE_LABEL: digest, NAME_LABEL: image.name},
                pull=False,
                # Wheels are installed offline: no network proves it (and needs no bridge).
                network_mode="none",
                rm=True,
                forcerm=True,
            )
        except BuildError as exc:
            text = "".join(str(c.get("stream") or c.get("error") or "") for c in exc.build_log)
            tail = text.strip().splitlines()[-20:]
            raise EnvironmentProblem(
                f"building {tag} failed: {exc.msg}\n" + "\n".join(tail)
            ) from exc
        except APIError as exc:
            raise EnvironmentProblem(f"building {tag} failed: {exc}") from exc
    return BuildOutcome(image.name, tag, built.id, True, time.monotonic() - started)


def ensure_images(
    client: Any,
    recipes: Sequence[ImageRecipe],
    *,
    mirror: str | None = None,
    log: Log = _stderr_log,
) -> list[BuildOutcome]:
    """The base image and every recipe's image; one process builds at a time on a machine."""
    with _build_lock():
        outcomes = [ensure_base_image(client, mirror=mirror, log=log)]
        outcomes += [ensure_image(client, r, mirror=mirror, log=log) for r in recipes]
    return outcomes


def ensure_recipe_image(
    name: str = "test", *, client: Any = None, recipes_dir: Path = RECIPES_DIR
) -> str:
    """Tag of the named recipe's image, built first if needed (what test fixtures call)."""
    client = client or engine_client()
    with _build_lock():
        return ensure_image(client, recipe(name, recipes_dir)).tag


def download_wheels(requirements: Path, dest: Path, base: BaseRecipe) -> None:
    """Download wheels for ``requirements`` for the image's Python.

    Dependencies are not followed: kfp's (kfp-server-api has no wheel) are not needed where
    it only runs components, and a recipe pins every wheel it needs.
    """
    abi = "cp" + base.python_version.replace(".", "")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--no-deps",
        "--dest",
        str(dest),
        "--requirement",
        str(requirements),
        "--python-version",
        base.python_version,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for tag in manylinux_platforms(base.glibc_minor, platform.machine()):
        command += ["--platform", tag]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(
            f"pip could not download wheels for {requirements}:\n{result.stderr.strip()}"
        )


def manylinux_platforms(glibc_minor: int, machine: str) -> list[str]:
    """Wheel platform tags a glibc 2.<glibc_minor> system on ``machine`` runs, newest first."""
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine in ("x86_64", "i686"):
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tags


def _image_with_digest(client: Any, tag: str, digest: str) -> str | None:
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return None
    labels = image.labels or {}
    return str(image.id) if labels.get(RECIPE_LABEL) == digest else None


@contextlib.contextmanager
def _scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH_DIR))
    try:
        yield path
    finally:
        unmount_below(path)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    path = SCRATCH_DIR / "cjob-emu-images.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build`` the images, or print a recipe's ``tag``."""
    parser = argparse.ArgumentParser(prog="python -m cjob_emu.images", description=__doc__)
    parser.add_argument("--recipes", type=Path, default=RECIPES_DIR, help="recipes directory")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the base image and every recipe's image")
    build.add_argument("--mirror", help="Debian mirror URL (default: from the apt sources)")
    build.add_argument(
        "--skip-without-engine",
        action="store_true",
        help="exit 0 with a note when no engine answers, unless CI=true",
    )
    tag = commands.add_parser("tag", help="print the tag a recipe's image has")
    tag.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "tag":
            print(recipe(args.name, args.recipes).tag)
            return 0
        try:
            client = engine_client()
        except EnvironmentProblem as exc:
            if args.skip_without_engine and os.environ.get("CI") != "true":
                _stderr_log(f"{exc}; not building images (tests that need Docker will skip)")
                return 0
            raise
        for outcome in ensure_images(client, all_recipes(args.recipes), mirror=args.mirror):
            _stderr_log(outcome.describe())
    except EnvironmentProblem as exc:
        _stderr_log(f"error: {exc}")
        return exc.exit_code
    return 0

