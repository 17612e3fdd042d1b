"""The executor under load: 20 three-replica jobs back to back, then 5 at once, per backend.

Runs the code of benchmarks/executor_load.py (which prints the same figures), so the
numbers in the README can be reproduced with the script. Every job must succeed, every
replica's record must name its role and job, and nothing of any run may be left.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support.paths import BENCHMARKS

BACK_TO_BACK = 20
AT_ONCE = 5


def _load_benchmark() -> ModuleType:
    path = BENCHMARKS / "executor_load.py"
    spec = importlib.util.spec_from_file_location("executor_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


load = _load_benchmark()


def _run(backend: str, work: Path, image: str | None) -> None:
    lines: list[str] = []
    done = load.run_load(backend, BACK_TO_BACK, AT_ONCE, work, image, report=lines.append)

    print("\n".join(lines))
    assert [(s.name, s.jobs) for s in done] == [("back-to-back", 20), ("concurrent", 5)]
    assert [p for s in done for p in s.problems] == []
    assert len(list((work / "gcs" / load.BUCKET / "load").iterdir())) == 25


def test_process_backend_runs_20_jobs_back_to_back_and_5_at_once(tmp_path: Path) -> None:
    _run("process", tmp_path, None)


@pytest.mark.docker
def test_docker_backend_runs_20_jobs_back_to_back_and_5_at_once(
    tmp_path: Path, cjob_test_image: str
) -> None:
    _run("docker", tmp_path, cjob_test_image)
