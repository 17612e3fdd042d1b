"""The load script in short form: 10 SDK clients for 5 s on the fake API, every invariant.

The full form (50 clients for 60 s) is ``python benchmarks/load.py``; see its docstring.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from support.paths import BENCHMARKS

SCRIPT = BENCHMARKS / "load.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cjob_emu_load_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_ten_sdk_clients_for_five_seconds_lose_and_double_nothing() -> None:
    report = load_script().run(clients=10, seconds=5)
    print("\n".join(report.lines()))
    assert report.errors == []
    assert report.problems == []  # unique names, list == creates, states as asked
    assert report.creates >= 10  # every client got at least one job through
    assert set(report.latencies) == {"create", "get", "cancel", "list"}
    assert report.calls == sum(len(v) for v in report.latencies.values())
