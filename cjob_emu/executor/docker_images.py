"""Making sure every image a run needs is on the engine before any replica starts.

Local images are used as they are. A missing one is pulled only when the run allows it;
otherwise the run stops naming each missing image and how to stand a local image in for
it. Vertex's prebuilt executor images can never be pulled without access to Google's
registry, so the message says so for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.errors import DockerException, ImageNotFound

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor.image_map import CLI_HINT

VERTEX_PREBUILT_PREFIXES: tuple[str, ...] = (
    "us-docker.pkg.dev/vertex-ai/",
    "europe-docker.pkg.dev/vertex-ai/",
    "asia-docker.pkg.dev/vertex-ai/",
    "gcr.io/cloud-aiplatform/",
    "us-docker.pkg.dev/deeplearning-platform-release/",
)
"""Where Vertex's prebuilt training and executor images live."""


def is_vertex_prebuilt(image: str) -> bool:
    """Whether ``image`` is one of Vertex's prebuilt images (never present offline)."""
    return image.startswith(VERTEX_PREBUILT_PREFIXES)


def ensure_images(
    client: Any, images: Mapping[str, str], *, pull: bool, hint: str = CLI_HINT
) -> list[str]:
    """Check that every local image in ``images`` (job URI -> local tag) is present.

    Missing ones are pulled when ``pull`` is set. Raises :class:`EnvironmentProblem`
    naming every image that is still missing, and how to map it (``hint``, ``{uri}``
    filled in). Returns notes on what was pulled.
    """
    notes: list[str] = []
    missing: list[tuple[str, str]] = []
    for uri, tag in images.items():
        if _present(client, tag):
            continue
        if not pull:
            missing.append((uri, tag))
            continue
        try:
            client.images.pull(tag)
        except DockerException as exc:
            raise EnvironmentProblem(
                f"image {tag} is not present and pulling it failed: {exc}"
            ) from exc
        notes.append(f"pulled image {tag}")
    if missing:
        raise EnvironmentProblem(
            "\n".join(_missing_message(uri, tag, hint.format(uri=uri)) for uri, tag in missing)
        )
    return notes


def _present(client: Any, tag: str) -> bool:
    try:
        client.api.inspect_image(tag)
    except ImageNotFound:
        return False
    except DockerException as exc:
        raise EnvironmentProblem(f"the Docker engine could not look up image {tag}: {exc}") from exc
    return True


def _missing_message(uri: str, tag: str, how_to_map: str) -> str:
    if uri != tag:
        return (
            f"image {tag} (standing in for {uri} through the image map) is not present "
            f"locally; build or load it, or map the URI to another local image with {how_to_map}"
        )
    if is_vertex_prebuilt(uri):
        return (
            f"image {uri} is one of Vertex's prebuilt images, which cannot be pulled "
            f"offline; stand a local image in for it with {how_to_map}"
        )
    return (
        f"image {uri} is not present locally and pulling is not allowed for this run; "
        f"build or load it, allow pulling, or use {how_to_map}"
    )
