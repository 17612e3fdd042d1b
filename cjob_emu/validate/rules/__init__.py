"""The create-time rules of Vertex AI CustomJobs, run over a built message.

Each rule is a small function ``rule(ctx, out)`` that reads the raw protobuf
message in ``ctx`` and reports to ``out``; each cites where the rule comes
from. Weakly evidenced rules report warnings, never errors.
"""

from __future__ import annotations

from collections.abc import Callable

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules import documented, job, machine, pools, scheduling, spec
from cjob_emu.validate.rules.context import Context, CustomJobPb

Rule = Callable[[Context, Findings], None]

RULES: tuple[Rule, ...] = (
    documented.check,
    *job.RULES,
    *spec.RULES,
    *pools.RULES,
    *machine.RULES,
    *scheduling.RULES,
)


def run_rules(message: CustomJobPb, location: str | None, out: Findings) -> None:
    """Run every rule over ``message``, reporting to ``out``."""
    ctx = Context(message, location)
    for rule in RULES:
        rule(ctx, out)
