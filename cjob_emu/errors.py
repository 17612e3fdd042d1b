"""The exception types users of cjob-emu catch.

Each carries the process exit code the CLI uses for it, so a CI step reads
the outcome without parsing text: 1 invalid job or failed run, 2 unreadable
input or usage, 3 environment problem, 130 cancelled by the user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cjob_emu.validate import ValidationReport


class CjobEmuError(Exception):
    """Base of every error cjob-emu raises on purpose."""

    exit_code = 1


class InputError(CjobEmuError):
    """An input could not be read or parsed (missing file, not JSON/YAML, not a mapping)."""

    exit_code = 2


class InvalidJobError(CjobEmuError):
    """A CustomJob breaks Vertex's create-time rules; ``report`` lists every problem."""

    exit_code = 1

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.vertex_message())


class ConversionError(CjobEmuError):
    """A KFP component or an option cannot become a CustomJob component (what and why)."""

    exit_code = 2


class EnvironmentProblem(CjobEmuError):
    """The machine cannot do what was asked: no engine, a missing image, a port in use."""

    exit_code = 3


class JobFailedError(CjobEmuError):
    """A job ended FAILED; ``message`` is Vertex's error text."""

    exit_code = 1


class JobCancelledError(CjobEmuError):
    """A job ended CANCELLED."""

    exit_code = 130


class GcsPathError(InputError):
    """A gs:// URI or /gcs path that cannot be mapped: not such a path, or leaving the root."""
