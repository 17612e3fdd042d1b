"""The schema cache: the catalog of the installed aiplatform types, kept on disk per version.

Importing ``google.cloud.aiplatform_v1`` takes a second or more, and validation needs
only what the types describe. The first validation with a given aiplatform version
builds the catalog from the types and writes its data here; later ones read it back
(milliseconds) and import no aiplatform module. The key is the installed
distribution's version (read from its metadata, which imports nothing of it), so
another aiplatform gets a catalog of its own.

Where: ``$CJOB_EMU_CACHE_DIR``, else ``$XDG_CACHE_HOME/cjob-emu``, else
``~/.cache/cjob-emu``. ``CJOB_EMU_NO_CACHE=1``: the cache is neither read nor
written; the catalog comes from the types in every process. The one I/O of the
validate room, and only a cache: a file that cannot be read or used is rebuilt, one
that cannot be written makes the next start slow, neither is an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from cjob_emu.validate.catalog import Catalog

CACHE_DIR_ENV = "CJOB_EMU_CACHE_DIR"
NO_CACHE_ENV = "CJOB_EMU_NO_CACHE"
DISTRIBUTION = "google-cloud-aiplatform"
#: The layout of the cached data and how it is derived; a change takes a new number,
#: so a cache written by another cjob-emu is never read.
FORMAT = 1


def cache_dir() -> Path:
    """The directory of cjob-emu's caches."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cjob-emu"


def installed_version() -> str | None:
    """The installed google-cloud-aiplatform's version; None when it has no metadata."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def cache_file(version: str) -> Path:
    """Where the catalog data of aiplatform ``version`` is kept."""
    return cache_dir() / f"aiplatform-{version}.schema-v{FORMAT}.json"


def _types_catalog() -> Catalog:
    # imported on use: this is the slow import the cache exists to avoid
    from cjob_emu.validate.from_types import installed_catalog

    return installed_catalog()


def _read(path: Path, version: str) -> Catalog | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("aiplatform") != version:
            return None
        return Catalog.from_data(data)
    except Exception:  # a damaged cache file, whatever the damage, is rebuilt
        return None


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (a temporary file renamed): processes may build it at once."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return  # a read-only or full disk: the next process builds it again


@cache
def catalog() -> Catalog:
    """The catalog validation uses in this process: from the cache, built on a miss."""
    version = installed_version()
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0") or version is None:
        return _types_catalog()
    path = cache_file(version)
    found = _read(path, version)
    if found is not None:
        return found
    data = {"format": FORMAT, "aiplatform": version, **_types_catalog().to_data()}
    _write(path, data)
    # Read back from the data, as every later process will: cold and warm runs agree.
    return Catalog.from_data(data)
