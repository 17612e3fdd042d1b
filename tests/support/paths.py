"""Where the repository's files are, for tests in any folder of tests/."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
"""tests/: on ``sys.path`` (pytest's ``pythonpath``), so ``support`` imports; child
processes that import helpers get it in PYTHONPATH."""
ROOT = TESTS.parent
FIXTURES = ROOT / "fixtures"
BENCHMARKS = ROOT / "benchmarks"
