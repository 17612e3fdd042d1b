"""A command's input file, read once: a compiled pipeline, a CustomJob document, or a
pipeline (or component) in a ``.py`` file, compiled with kfp."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cjob_emu.launcher.pipeline_spec import pipeline_from_text
from cjob_emu.spec import parse_job_text, read_text


@dataclass(frozen=True)
class InputFile:
    """What a file holds: ``pipeline`` (a compiled pipeline spec) or ``job`` (a
    CustomJob or CustomJobSpec mapping, not yet interpreted), the other None."""

    pipeline: dict[str, Any] | None
    job: dict[str, Any] | None


def read_input(path: str | os.PathLike[str]) -> InputFile:
    """Read ``path`` once; :class:`~cjob_emu.errors.InputError` names the file when it
    is neither a compiled pipeline nor a CustomJob mapping. ``file.py`` (or
    ``file.py:NAME``) is compiled: its only ``@dsl.pipeline``, or the pipeline or
    component NAME."""
    python = _python_target(str(path))
    if python is not None:
        # imported on use: kfp is an optional dependency, needed for a .py file only
        from cjob_emu.pipelines.python_file import compile_python_file

        return InputFile(pipeline=compile_python_file(*python), job=None)
    text = read_text(path)
    pipeline = pipeline_from_text(text)
    if pipeline is not None:
        return InputFile(pipeline=pipeline, job=None)
    return InputFile(pipeline=None, job=parse_job_text(text, source=str(path)))


def _python_target(target: str) -> tuple[str, str | None] | None:
    """``(path, NAME or None)`` for ``file.py`` or ``file.py:NAME``, else None."""
    path, sep, name = target.rpartition(":")
    if sep and path.endswith(".py") and name.isidentifier():
        return path, name
    return (target, None) if target.endswith(".py") else None
