"""Counting the cases of the property tests, so CI shows how many inputs each one tried.

Each property test takes the ``fuzz_cases`` fixture, calls :meth:`FuzzCases.tick` once per
generated input and :meth:`FuzzCases.expect` after its Hypothesis run; the fixture prints
``fuzz: <test>: N cases (session total T)`` at the end of the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

_TOTAL = [0]


class FuzzCases:
    """How many inputs one property test ran."""

    def __init__(self) -> None:
        self.count = 0
        self.wanted = 0

    def settings(self, examples: int) -> settings:
        """Hypothesis settings for ``examples`` cases; big generated inputs are the point here,
        not a slow-test smell."""
        self.wanted += examples
        return settings(
            max_examples=examples,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )

    def tick(self) -> None:
        self.count += 1

    def expect(self) -> None:
        """Hypothesis ran at least the cases asked for (its ``max_examples``)."""
        assert self.count >= self.wanted, f"only {self.count} of {self.wanted} cases ran"


@pytest.fixture(name="fuzz_cases")
def fuzz_cases_fixture(request: pytest.FixtureRequest) -> Iterator[FuzzCases]:
    cases = FuzzCases()
    yield cases
    _TOTAL[0] += cases.count
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"fuzz: {request.node.name}: {cases.count} cases (session total {_TOTAL[0]})"
            )
