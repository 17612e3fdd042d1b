"""What ``cjob-emu run`` prints, as a user reads it: colour only where it belongs
(``--color``, ``NO_COLOR``, a terminal), the not-emulated notices folded into one line
(``-v`` lists them) and ``--quiet`` down to the summary. Real runs of the console
entry point on the process backend, into a pipe or a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT

from cjob_emu.cli import main

JOB = ROOT / "fixtures" / "jobs" / "distributed.yaml"
ESCAPE = "\x1b"
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours and bold (not cursor movement)
UNEMULATED = "6 fields (disk_spec, machine_type x4, accelerator_type); -v lists them"


def run_job(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """stdout and stderr of ``cjob-emu run`` of the README's job, into a pipe."""
    done = subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", "run", str(JOB), "--backend", "process",
         "--gcs-root", str(tmp_path / "gcs"), "--run-dir", str(tmp_path / "run"), *flags],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def run_on_terminal(tmp_path: Path, *flags: str, env: dict[str, str]) -> str:
    """Everything ``cjob-emu run`` writes to a pseudo-terminal (stdout and stderr)."""
    parent, child = pty.openpty()
    command = [sys.executable, "-m", "cjob_emu.cli", "run", str(JOB), "--backend", "process",
               "--gcs-root", str(tmp_path / "gcs"), "--run-dir", str(tmp_path / "run"), *flags]
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    process = subprocess.Popen(command, stdout=child, stderr=child, cwd=ROOT,
                               env={**environ, "TERM": "xterm", **env})
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_run_into_a_pipe_writes_no_escape_codes(tmp_path: Path) -> None:
    output = run_job(tmp_path)
    assert "role=chief index=0" in output  # the replicas' own output is there...
    assert output.count(ESCAPE) == 0  # ...and not one escape code


def test_color_always_colours_even_a_pipe(tmp_path: Path) -> None:
    assert len(COLOUR.findall(run_job(tmp_path, "--color", "always"))) > 0
    assert len(COLOUR.findall(run_job(tmp_path, "--color=always", env={"NO_COLOR": "1"}))) > 0


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    coloured = run_on_terminal(tmp_path, env={})
    assert "role=chief index=0" in coloured and len(COLOUR.findall(coloured)) > 0
    plain = run_on_terminal(tmp_path, env={"NO_COLOR": "1"})
    assert "role=chief index=0" in plain and COLOUR.findall(plain) == []
    assert COLOUR.findall(run_on_terminal(tmp_path, "--color", "never", env={})) == []


def test_not_emulated_notices_fold_into_one_line_and_v_lists_them(tmp_path: Path) -> None:
    lines = run_job(tmp_path).splitlines()
    folded = [line for line in lines if line.startswith("not emulated:")]
    assert folded == [f"not emulated: {UNEMULATED}"]
    listed = [line for line in run_job(tmp_path, "-v").splitlines()
              if line.startswith("not emulated:")]
    assert len(listed) == 6
    assert "not emulated: job_spec.worker_pool_specs[0].disk_spec: replicas use the host's" in (
        listed[0]
    )


def test_quiet_keeps_only_the_summary(tmp_path: Path) -> None:
    output = run_job(tmp_path, "--quiet")
    summary = ("job 'distributed-roles'", "logs:")
    assert all(line.startswith(summary) for line in output.splitlines()), output
    assert "job 'distributed-roles' JOB_STATE_SUCCEEDED" in output
    assert "role=chief" not in output and "not emulated" not in output


@pytest.mark.parametrize(
    "argv", [["-q", "run"], ["run", "-q"], ["--quiet", "run", "--color=never"]]
)
def test_the_output_flags_go_before_or_after_the_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    assert main([*argv, str(JOB), *where, "--run-dir", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr()
    assert "role=chief" not in shown.out + shown.err
    assert "JOB_STATE_SUCCEEDED" in shown.out


def test_quiet_and_verbose_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["-q", "validate", "-v", str(JOB)])
    assert stopped.value.code == 2
    assert "--quiet and --verbose" in capsys.readouterr().err


def test_every_command_takes_the_output_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("validate", "env", "convert", "serve", "run", "cleanup"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--quiet" in capsys.readouterr().out, command
