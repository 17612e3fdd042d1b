"""Pre-submit validation of Vertex AI CustomJobs.

``validate(job, location=...)`` answers a :class:`ValidationReport`: the
errors Vertex would answer ``400 INVALID_ARGUMENT`` with at create time, and
warnings for what it may refuse or silently ignore. A structural pass reads
the job against the CustomJob descriptors of the installed aiplatform types;
the rules in ``cjob_emu.validate.rules`` then check the built message. What
validation reads from those types comes from the schema cache
(``cjob_emu.validate.cache``), so a job file is checked without importing them.
"""

from __future__ import annotations

from cjob_emu.validate.report import Problem, Severity, ValidationReport
from cjob_emu.validate.validator import validate

__all__ = ["Problem", "Severity", "ValidationReport", "validate"]
