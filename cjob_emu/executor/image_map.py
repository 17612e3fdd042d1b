"""Local images standing in for registry ones (``--image-map URI=LOCAL_TAG``).

Vertex's prebuilt executor images can never be present offline, so a run maps them
(and any other image) to local tags. A key ending in ``*`` matches every image URI
starting with what comes before it; an exact key wins over a prefix, a longer
prefix over a shorter one.

Sources, later ones winning: a file (YAML or JSON mapping ``URI: TAG``, or a
mapping under the key ``images``), then ``URI=TAG`` entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cjob_emu.errors import InputError

CLI_HINT = "--image-map {uri}=LOCAL_TAG"
"""How a user of the CLI stands a local image in for ``{uri}``."""


@dataclass(frozen=True)
class ImageMap:
    """Registry image URI (or ``prefix*``) -> local image tag.

    ``hint`` says how the user who gave this map stands a local image in for ``{uri}``
    (the CLI's flag; the pytest plugin names its fixture): a missing image's error says it.
    """

    entries: Mapping[str, str] = field(default_factory=dict)
    hint: str = CLI_HINT

    def __post_init__(self) -> None:
        for key, value in self.entries.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key or not value:
                raise InputError(
                    f"image map entry {key!r}: {value!r}: both sides must be non-empty image names"
                )

    def resolve(self, image: str) -> str:
        """The local tag standing in for ``image`` (``image`` itself when unmapped)."""
        if image in self.entries:
            return self.entries[image]
        prefixes = [k for k in self.entries if k.endswith("*") and image.startswith(k[:-1])]
        if not prefixes:
            return image
        return self.entries[max(prefixes, key=len)]

    def merged(self, other: ImageMap) -> ImageMap:
        """This map with ``other``'s entries added (``other`` wins); this map's hint."""
        return ImageMap({**self.entries, **other.entries}, self.hint)

    @classmethod
    def from_pairs(cls, pairs: Iterable[str]) -> ImageMap:
        """Parse ``URI=LOCAL_TAG`` strings."""
        entries: dict[str, str] = {}
        for pair in pairs:
            uri, sep, tag = pair.partition("=")
            if not sep or not uri.strip() or not tag.strip():
                raise InputError(f"--image-map {pair!r}: expected URI=LOCAL_TAG")
            entries[uri.strip()] = tag.strip()
        return cls(entries)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ImageMap:
        """Read a YAML or JSON mapping ``URI: TAG`` (optionally under ``images:``)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: cannot read the image map: {exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{p}: the image map is not valid YAML or JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("images"), dict):
            data = data["images"]
        if not isinstance(data, dict):
            raise InputError(f"{p}: the image map must be a mapping of image URI to local tag")
        return cls({str(k): v for k, v in data.items()})

    @classmethod
    def load(
        cls,
        source: ImageMap | Mapping[str, str] | str | os.PathLike[str] | None = None,
        pairs: Iterable[str] = (),
    ) -> ImageMap:
        """A map from a map, a mapping or a file path, overlaid with ``URI=TAG`` pairs."""
        if source is None:
            base = cls()
        elif isinstance(source, ImageMap):
            base = source
        elif isinstance(source, Mapping):
            base = cls(dict(source))
        else:
            base = cls.from_file(source)
        return base.merged(cls.from_pairs(pairs))
