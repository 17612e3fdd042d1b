"""Rules on ``job_spec.scheduling``."""

from __future__ import annotations

from typing import Any

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules.context import CATALOG, Context, seconds

_PATH = "job_spec.scheduling"
_STRATEGY: Any = CATALOG.enum("Scheduling.Strategy")
_FLEX_START = int(_STRATEGY.FLEX_START)
_DEPRECATED = CATALOG.deprecated_values("Scheduling.Strategy")
_STRATEGY_NAMES: dict[int, str] = {int(s): s.name for s in _STRATEGY}


def timeout(ctx: Context, out: Findings) -> None:
    """``timeout`` is a positive duration.

    Source: Scheduling.timeout docstring ("The maximum job running time");
    reference section 4. Negative: an error. Zero: a warning, since Vertex may
    read it as unset (the default of 7 days).
    """
    if not ctx.spec.scheduling.HasField("timeout"):
        return
    value = seconds(ctx.spec.scheduling.timeout)
    if value < 0:
        out.error(f"{_PATH}.timeout", "`timeout` must be a positive duration.")
    elif value == 0:
        out.warning(f"{_PATH}.timeout", "`timeout` is 0s; Vertex may read it as unset (7 days).")


def max_wait(ctx: Context, out: Findings) -> None:
    """``max_wait_duration`` is not negative, and only matters with FLEX_START.

    Source: Scheduling.max_wait_duration docstring ("the maximum duration that
    a job will wait ... if the scheduling strategy is set to
    [Strategy.DWS_FLEX_START]. If set to 0, the job will wait indefinitely"):
    negative is an error. Without FLEX_START it is ignored (GCPC's launcher
    drops it, container/v1/custom_job/remote_runner.py): a warning.
    """
    scheduling = ctx.spec.scheduling
    if not scheduling.HasField("max_wait_duration"):
        return
    path = f"{_PATH}.max_wait_duration"
    if seconds(scheduling.max_wait_duration) < 0:
        out.error(path, "`max_wait_duration` must not be negative.")
    if scheduling.strategy != _FLEX_START:
        out.warning(
            path, "`max_wait_duration` only applies with the `FLEX_START` strategy; it is ignored."
        )


def strategy(ctx: Context, out: Findings) -> None:
    """No deprecated scheduling strategy.

    Source: Scheduling.Strategy docstring (ON_DEMAND and LOW_COST
    "Deprecated."): a warning, Vertex still accepts them.
    """
    value = ctx.spec.scheduling.strategy
    if value in _DEPRECATED:
        out.warning(
            f"{_PATH}.strategy",
            f"Strategy `{_STRATEGY_NAMES[value]}` is deprecated; use `STANDARD` or `SPOT`.",
        )


def retries(ctx: Context, out: Findings) -> None:
    """``disable_retries`` overrides ``restart_job_on_worker_restart``.

    Source: Scheduling.disable_retries docstring ("If true, overrides
    Scheduling.restart_job_on_worker_restart to false."): a warning.
    """
    scheduling = ctx.spec.scheduling
    if scheduling.disable_retries and scheduling.restart_job_on_worker_restart:
        out.warning(
            f"{_PATH}.restart_job_on_worker_restart",
            "`disable_retries` is true, so `restart_job_on_worker_restart` has no effect.",
        )


RULES = (timeout, max_wait, strategy, retries)
