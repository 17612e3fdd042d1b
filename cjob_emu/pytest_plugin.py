"""pytest plugin of cjob-emu, registered through the ``pytest11`` entry point.

It declares the ``docker`` marker and enforces its policy: a ``docker`` test
is skipped with a reason when no Docker engine answers, and fails instead
when ``CI=true``, so a CI run can never pass by skipping them.
"""

from __future__ import annotations

import os
from functools import cache

import pytest

DOCKER_MARKER = "docker: needs a running Docker engine (fails instead of skipping when CI=true)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", DOCKER_MARKER)


@cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine answers, or ``None`` when one does (asked once a session)."""
    from cjob_emu.executor.docker import engine_problem

    return engine_problem()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = docker_engine_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"CI=true and no Docker engine answers ({problem}); run scripts/test.sh", pytrace=False
        )
    pytest.skip(f"no Docker engine answers ({problem}); scripts/test.sh starts one")
