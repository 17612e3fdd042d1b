"""A command's input file, read once: a compiled pipeline or a CustomJob document."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cjob_emu.launcher.pipeline_spec import pipeline_from_text
from cjob_emu.spec import parse_job_text, read_text


@dataclass(frozen=True)
class InputFile:
    """What a file holds: ``pipeline`` (a compiled pipeline spec) or ``job`` (a
    CustomJob mapping, not yet interpreted), the other None."""

    pipeline: dict[str, Any] | None
    job: dict[str, Any] | None


def read_input(path: str | os.PathLike[str]) -> InputFile:
    """Read ``path`` once; :class:`~cjob_emu.errors.InputError` names the file when it
    is neither a compiled pipeline nor a CustomJob mapping."""
    text = read_text(path)
    pipeline = pipeline_from_text(text)
    if pipeline is not None:
        return InputFile(pipeline=pipeline, job=None)
    return InputFile(pipeline=None, job=parse_job_text(text, source=str(path)))
