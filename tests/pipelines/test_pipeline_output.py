"""What ``cjob-emu run PIPELINE`` prints, as a user reads it: the tasks, what they
print themselves and the summary (how every replica ended, where the logs are); kfp's
own lines (kfp.local's log, the KFP executor's input dump) only with ``-v``. Real runs
on the process backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kfp import compiler
from support import pipeline_components
from support.paths import ROOT
from support.pipeline_checks import PIPELINES

from cjob_emu import cli
from cjob_emu.pipelines.kfp_local import KfpExecutorLog

MOST_LINES = 30
"""The 3-task train_eval pipeline: the task lines, the replicas' own lines, the summary
(8 of its lines say what is ignored locally). It printed 232 to 488 lines before."""


def run_train_eval(tmp_path: Path, *flags: str) -> str:
    """stdout and stderr of ``cjob-emu run train_eval.yaml``, into a pipe."""
    done = subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", "run", str(PIPELINES / "train_eval.yaml"),
         "--backend", "process", "--stop-grace", "1", "--gcs-root", str(tmp_path / "gcs"),
         "--run-dir", str(tmp_path / "runs"), *flags],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout


def test_a_pipeline_run_shows_the_tasks_their_own_output_and_the_summary(
    tmp_path: Path,
) -> None:
    output = run_train_eval(tmp_path)
    lines = output.splitlines()
    assert len(lines) <= MOST_LINES, output
    assert output.count("\x1b") == 0
    assert "cjob-emu: task train: CustomJob on the process backend" in lines
    assert "  workerpool0-0 | workerpool0-0: fitted a=2.0 b=1.0 on 20 rows, 3 epochs" in lines
    assert "  task train (custom-job): succeeded" in lines
    assert "Got executor_input" not in output and "KFP Executor" not in output
    assert "Executing task" not in output and "-----" not in output
    assert any(line.endswith("-v shows them") for line in lines)


def test_verbose_shows_kfps_own_lines_and_quiet_only_the_summary(tmp_path: Path) -> None:
    verbose = run_train_eval(tmp_path, "-v")
    assert "  prepare-data | Executing task 'prepare-data'" in verbose  # kfp.local's log
    assert "  workerpool0-0 | [KFP Executor " in verbose
    assert verbose.count("Got executor_input:") >= 3  # and the workers' unless stopped early
    assert verbose.count("\x1b") == 0  # kfp.local colours its log: not into a pipe
    quiet = run_train_eval(tmp_path, "--quiet").splitlines()
    assert quiet[0].startswith("pipeline run train-eval-") and quiet[0].endswith("SUCCEEDED")
    assert not any(" | " in line for line in quiet)


def test_the_summary_names_every_replicas_end_and_the_logs(
    tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "lingering.yaml"
    compiler.Compiler().compile(pipeline_components.lingering, str(path))
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    args += ["--run-dir", str(tmp_path / "runs"), "--stop-grace", "1"]
    assert cli.main([*args, "--json"]) == 0
    task = json.loads(capsys.readouterr().out)["tasks"]["linger"]
    logs = Path(task["logs"])
    assert logs.parent.parent.parent == tmp_path / "runs" and logs.name == "logs"
    chief, worker = task["replicas"]["workerpool0-0"], task["replicas"]["workerpool1-0"]
    assert chief["exitCode"] == 0 and not chief["stopped"]
    assert worker["stopped"] and worker["exitCode"] is not None
    assert worker["logPath"] == str(logs / "workerpool1-0.log")
    assert Path(worker["logPath"]).is_file()

    assert cli.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("  task linger (custom-job): succeeded")
    assert lines[at + 1].startswith("    replicas: workerpool0-0 exited 0, workerpool1-0 stopped")
    assert lines[at + 2].startswith(f"    logs: {tmp_path / 'runs'}/lingering-")
    assert Path(lines[at + 2].removeprefix("    logs: "), "workerpool0-0.log").is_file()


def test_the_kfp_executors_lines_are_told_from_the_components_own() -> None:
    lines = [
        "[KFP Executor 2026-01-02 03:04:05,678 INFO]: Looking for component `train`",
        "[KFP Executor 2026-01-02 03:04:05,679 INFO]: Got executor_input:",
        "{",
        '    "inputs": {',
        "        \"parameterValues\": {}",
        "    }",
        "}",
        "fitted a=2.0",
        "{",
        "[KFP Executor 2026-01-02 03:04:05,680 WARNING]: something to know",
        "[KFP Executor 2026-01-02 03:04:05,681 INFO]: Got executor_input:",
        "not a dump",
    ]
    kfp = KfpExecutorLog()
    assert [line for line in lines if not kfp.is_kfp(line)] == [
        "fitted a=2.0",
        "{",
        "[KFP Executor 2026-01-02 03:04:05,680 WARNING]: something to know",
        "not a dump",
    ]
