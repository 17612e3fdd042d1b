"""Without an optional package, every entry point that needs it says which package and
how to install it (exit 3), never a traceback; what the plain install promises is there."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from support.paths import ROOT

PIPELINE = ROOT / "fixtures" / "pipelines" / "train_eval.yaml"
COMPONENT = ROOT / "fixtures" / "components" / "train_container.yaml"
HINT = "needs the kfp package (not installed): pip install 'cjob-emu[convert]'"

# ``sys.modules["kfp"] = None`` makes every ``import kfp`` fail as if it were not installed.
WITHOUT_KFP = "import sys; sys.modules['kfp'] = None; "


def _without_kfp(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_KFP + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("argv", "purpose"),
    [
        (["run", str(PIPELINE), "--backend", "process"], "cjob-emu run"),
        (["convert", str(COMPONENT), "-o", "/tmp/never.yaml"], "cjob-emu convert"),
    ],
    ids=["run PIPELINE", "convert"],
)
def test_the_cli_names_the_missing_package_and_exits_3(argv: list[str], purpose: str) -> None:
    done = _without_kfp(f"from cjob_emu.cli import main; sys.exit(main({argv!r}))")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().startswith(f"cjob-emu: {purpose} needs the kfp package"), done.stderr
    assert HINT in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "call",
    [
        "pipelines.run_pipeline('p.yaml')",
        "pipelines.run_component(None)",
        "converter.create_custom_training_job_from_component(None)",
    ],
)
def test_the_python_api_raises_an_environment_problem(call: str) -> None:
    code = (
        "from cjob_emu.errors import EnvironmentProblem\n"
        "import cjob_emu.converter as converter\n"
        "import cjob_emu.pipelines as pipelines\n"
        "try:\n"
        f"    {call}\n"
        "except EnvironmentProblem as exc:\n"
        "    print(exc); sys.exit(exc.exit_code)\n"
    )
    done = _without_kfp(code)
    assert done.returncode == 3, done.stderr
    assert HINT in done.stdout


def test_the_vertex_mock_needs_nothing_beyond_the_plain_install() -> None:
    required = importlib.metadata.requires("cjob-emu") or []
    plain = [r for r in required if "extra ==" not in r]
    assert any(r.startswith("responses") for r in plain), plain
