"""A compiled KFP pipeline spec (what ``kfp.compiler.Compiler`` writes), read once.

What both the converter's checks and the local pipeline runner need from the
file: reading it and telling it apart from a CustomJob file. No kfp needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cjob_emu.errors import InputError


def is_compiled_pipeline(document: Mapping[str, Any]) -> bool:
    """True for a KFP pipeline spec (what ``kfp.compiler.Compiler`` writes)."""
    return "pipelineInfo" in document and "deploymentSpec" in document and "root" in document


def read_pipeline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The pipeline spec of a compiled pipeline file (its first YAML document)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot be read: {exc}") from None
    try:
        document = _first_document(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not is_compiled_pipeline(document):
        raise InputError(f"{p}: not a compiled pipeline (no pipelineInfo/deploymentSpec/root)")
    return document


def pipeline_from_text(text: str) -> dict[str, Any] | None:
    """The pipeline spec in ``text`` when it holds a compiled pipeline, else None (a
    CustomJob file, or not YAML at all: the CustomJob reading reports that)."""
    try:
        document = _first_document(text)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, dict) and is_compiled_pipeline(document) else None


def _first_document(text: str) -> Any:
    # kfp writes a platform spec as a second YAML document after the pipeline spec
    return next(iter(yaml.safe_load_all(text)), None)
