"""How long a fresh ``cjob-emu`` process takes, next to Python alone and to importing aiplatform_v1.

Each row starts a new interpreter and waits for it to end (wall time), ``--repeat``
times; the median is kept. Rows:

- ``python -c pass`` and ``python -c "import google.cloud.aiplatform_v1"``: the baselines
  (the least any command can take; what any command that loads the aiplatform types pays);
- ``cjob-emu --help``;
- ``cjob-emu validate fixtures/jobs/distributed.yaml`` with the schema cache warm, with it
  cold (a new empty cache directory each time: the first run after installing an
  aiplatform version) and with it off (``CJOB_EMU_NO_CACHE=1``: the types read from
  aiplatform itself, as before the cache);
- ``cjob-emu env fixtures/jobs/distributed.yaml`` (it builds the job's messages).

    python benchmarks/cli_start.py [--repeat 7]

The cjob_emu of this checkout is run (PYTHONPATH). Goal: a warm ``validate`` of one
file in under 0.5 s; the exit code is 1 when it is not met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOB = "fixtures/jobs/distributed.yaml"
GOAL = 0.5
CLI = [sys.executable, "-m", "cjob_emu.cli"]

Env = dict[str, str]


def _time(argv: list[str], env: Env) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode(errors='replace')}")
    return elapsed


def _median(argv: list[str], env: Callable[[], Env], repeat: int) -> float:
    return statistics.median(_time(argv, env()) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per row, median kept (7)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cjob-emu-start-") as tmp:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        base = {**os.environ, "PYTHONPATH": path}
        base.pop("CJOB_EMU_NO_CACHE", None)
        warm = {**base, "CJOB_EMU_CACHE_DIR": os.path.join(tmp, "warm")}
        colds = iter(range(10**6))

        def cold() -> Env:  # a directory of its own for every run: nothing cached
            return {**base, "CJOB_EMU_CACHE_DIR": os.path.join(tmp, f"cold-{next(colds)}")}

        _time([*CLI, "validate", JOB], warm)  # fills the warm cache
        rows: list[tuple[str, list[str], Callable[[], Env]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], lambda: base),
            (
                "python -c 'import google.cloud.aiplatform_v1'",
                [sys.executable, "-c", "import google.cloud.aiplatform_v1"],
                lambda: base,
            ),
            ("cjob-emu --help", [*CLI, "--help"], lambda: warm),
            ("cjob-emu validate (cache warm)", [*CLI, "validate", JOB], lambda: warm),
            ("cjob-emu validate (cache cold)", [*CLI, "validate", JOB], cold),
            (
                "cjob-emu validate (cache off)",
                [*CLI, "validate", JOB],
                lambda: {**warm, "CJOB_EMU_NO_CACHE": "1"},
            ),
            ("cjob-emu env", [*CLI, "env", JOB], lambda: warm),
        ]
        times = [(label, _median(command, env, args.repeat)) for label, command, env in rows]

    python, aiplatform = times[0][1], times[1][1]
    print(f"cold start of one process, wall time, median of {args.repeat} runs ({JOB})\n")
    header = ("command", "seconds", "x python", "x import aiplatform_v1")
    widths = (max(len(header[0]), *(len(label) for label, _ in times)), 8, 9, 22)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for label, seconds in times:
        ratios = (f"{seconds / python:.1f}x", f"{seconds / aiplatform:.2f}x")
        cells = (label, f"{seconds:.3f}", *ratios)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    warm_validate = times[3][1]
    verdict = "met" if warm_validate < GOAL else "NOT met"
    print(f"\ngoal: validate of one file (cache warm) under {GOAL} s: {verdict}")
    return 0 if warm_validate < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
