"""Compiled pipelines run locally on the process backend: ordinary tasks through
kfp.local's SubprocessRunner, each CustomJob replica a host process, in this Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler
from support import pipeline_components
from support.paths import FIXTURES
from support.pipeline_checks import PIPELINES, check_train_eval, check_train_logs

from cjob_emu import cli
from cjob_emu.errors import InputError, JobFailedError
from cjob_emu.executor import RunOptions
from cjob_emu.pipelines import LaunchWarning, run_component, run_pipeline


@pytest.mark.parametrize("name", ["train_eval.yaml", "train_eval_gcpc.yaml"])
def test_train_eval_runs_end_to_end(name: str, tmp_path: Path) -> None:
    gcs = tmp_path / "gcs"
    run = run_pipeline(
        PIPELINES / name,
        backend="process",
        gcs_root=gcs,
        options=RunOptions(stop_grace=1),
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    check_train_eval(run, gcs)
    ignored = "\n".join(run.ignored)
    # nothing differs silently: images, host Python, process isolation are all said
    assert "task images are ignored" in ignored
    assert f"'python3' in the pools' commands runs {sys.executable}" in ignored
    assert "process backend: replicas run as processes on this host" in ignored
    # the chief's success ends the job (workers still running are stopped, as on Vertex)
    check_train_logs(run, tmp_path / "runs", rows=20)


def compiled(pipeline: Any, tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return path


def test_nested_pipelines_pass_outputs_in_and_out(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.nested, tmp_path),
        {"a": 5},
        backend="process",
        gcs_root=tmp_path / "gcs",
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    assert run.succeeded
    assert run.outputs == {"Output": 5 + 10 + 10 + 100}
    assert [(t.name, t.kind) for t in run.tasks.values()] == [
        ("inner/add", "container"),
        ("inner/add-2", "container"),
        ("inner", "dag"),
        ("add", "container"),
    ]


def test_a_failing_task_stops_the_run_and_says_why(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.failing, tmp_path),
        backend="process",
        gcs_root=tmp_path / "gcs",
        echo=False,
    )
    assert not run.succeeded and run.outputs == {}
    assert run.tasks["add"].succeeded and run.tasks["add"].outputs == {"Output": 3}
    failed = run.failed_task
    assert failed is not None and failed.name == "fail"
    assert "ValueError: no luck 3" in failed.error
    with pytest.raises(JobFailedError, match="task fail failed"):
        run.raise_for_state()


def test_strict_fails_a_custom_job_task_on_a_validation_warning(tmp_path: Path) -> None:
    text = (PIPELINES / "train_eval.yaml").read_text()
    path = tmp_path / "pipeline.yaml"
    path.write_text(text.replace("machine_type: n1-standard-4", "machine_type: g4-standard-48"))
    run = run_pipeline(path, backend="process", gcs_root=tmp_path / "gcs", echo=False, strict=True)
    failed = run.failed_task
    assert not run.succeeded and failed is not None and failed.name == "train"
    assert failed.error.startswith("Vertex refuses the CustomJob the launcher creates:")
    assert 'Machine type "g4-standard-48" is not a known' in failed.error


def test_a_container_component_is_refused_on_the_process_backend(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="echo-text is a container component"):
        run_pipeline(
            compiled(pipeline_components.plain_container, tmp_path),
            backend="process",
            gcs_root=tmp_path / "gcs",
        )


def test_cli_runs_a_pipeline_with_typed_params(tmp_path: Path, capsys: Any) -> None:
    path = compiled(pipeline_components.nested, tmp_path)
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    args += ["--run-dir", str(tmp_path / "runs")]
    assert cli.main([*args, "--param", "a=2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["succeeded"] is True and summary["outputs"] == {"Output": 122}
    assert cli.main([*args, "--param", "a=3"]) == 0
    shown = capsys.readouterr()
    assert "SUCCEEDED" in shown.out and "output Output = 123" in shown.out
    assert "task inner/add (container): succeeded" in shown.out
    assert "ignored or different locally:" in shown.out and "task images are ignored" in shown.out
    assert "cjob-emu: task inner/add: kfp.local" in shown.err
    assert cli.main([*args, "--param", "a=two"]) == 2
    assert "--param a='two': NUMBER_INTEGER expected" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_a_value_the_payload_changes_warns_loudly_and_runs_as_on_vertex(tmp_path: Path) -> None:
    with pytest.warns(LaunchWarning, match="whoami: input 'display_name' is 'tab\\\\\\\\there'"):
        run = run_pipeline(
            compiled(pipeline_components.escaped, tmp_path),
            backend="process",
            gcs_root=tmp_path / "gcs",
            runs_dir=tmp_path / "runs",
            echo=False,
        )
    assert run.succeeded and run.outputs == {"Output": "workerpool0-0"}
    assert len(run.warnings) == 1 and "unescaped" in run.warnings[0]
    job = json.loads(next((tmp_path / "runs").glob("*/whoami/job.json")).read_text())
    assert job["displayName"] == "tab\there"  # the backslash sequence became a tab


def test_run_component_runs_a_python_component(tmp_path: Path) -> None:
    outputs = run_component(
        pipeline_components.add, {"a": 2, "b": 40}, backend="process", gcs_root=tmp_path / "gcs"
    )
    assert outputs == {"Output": 42}


def run_process(pipeline: Any, tmp_path: Path, arguments: dict[str, Any] | None = None) -> Any:
    return run_pipeline(
        compiled(pipeline, tmp_path),
        arguments,
        backend="process",
        gcs_root=tmp_path / "gcs",
        runs_dir=tmp_path / "runs",
        echo=False,
    )


def states(run: Any) -> dict[str, str]:
    return {t.name: t.state for t in run.tasks.values()}


def test_a_branch_on_a_task_output_runs_and_the_others_are_skipped(tmp_path: Path) -> None:
    run = run_process(pipeline_components.branching, tmp_path)
    assert run.succeeded and run.outputs == {"Output": "heads won"}
    assert states(run) == {
        "echo": "SUCCEEDED",
        "condition-branches-1/condition-2/echo-2": "SUCCEEDED",
        "condition-branches-1/condition-2": "SUCCEEDED",
        "condition-branches-1/condition-3": "NOT_TRIGGERED",
        "condition-branches-1/half": "SUCCEEDED",
        "condition-branches-1/condition-4": "NOT_TRIGGERED",
        "condition-branches-1/condition-5": "NOT_TRIGGERED",
        "condition-branches-1": "SUCCEEDED",
        "echo-6": "SUCCEEDED",
    }
    skipped = run.tasks["condition-branches-1/condition-3"].skipped
    assert skipped.startswith("condition !(inputs.parameter_values['pipelinechannel--echo-Output']")
    assert skipped.endswith("> 3 is false")


def test_an_elif_chain_falls_through_to_the_branch_that_holds(tmp_path: Path, capsys: Any) -> None:
    path = compiled(pipeline_components.branching, tmp_path)
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    for params, expected in [
        (["side=tails", "n=4"], "big n"),
        (["side=tails", "x=3.0"], "small x"),
        (["side=tails", "x=5"], "else"),
    ]:
        assert cli.main([*args, *(f"--param={p}" for p in params), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["outputs"] == {"Output": expected}
        branches = [n for n, t in summary["tasks"].items() if t["kind"] == "dag" and "/" in n]
        ran = [n for n in branches if summary["tasks"][n]["state"] == "SUCCEEDED"]
        assert len(branches) == 4 and len(ran) == 1, summary["tasks"]
    assert cli.main([*args, "--param=side=tails"]) == 0
    shown = capsys.readouterr().out
    assert "task condition-branches-1/condition-2 (dag): skipped: condition " in shown
    assert "== 'heads' is false" in shown


def test_a_consumer_of_a_skipped_tasks_output_is_skipped_too(tmp_path: Path) -> None:
    # The compiler only lets dsl.OneOf reach past a condition; a spec whose OneOf
    # names only the branch that did not run leaves the consumer without its input.
    path = compiled(pipeline_components.branching, tmp_path)
    spec = yaml.safe_load(path.read_text())
    branches = spec["components"]["comp-condition-branches-1"]["dag"]["outputs"]
    (output,) = branches["parameters"].values()
    selectors = output["valueFromOneof"]["parameterSelectors"]
    output["valueFromOneof"]["parameterSelectors"] = selectors[1:]
    run = run_pipeline(spec, backend="process", gcs_root=tmp_path / "gcs", echo=False)
    assert run.succeeded and run.outputs == {}
    consumer = run.tasks["echo-6"]
    assert consumer.state == "NOT_TRIGGERED" and consumer.outputs == {}
    assert consumer.skipped == (
        "its input text comes from task condition-branches-1, in which a condition skipped "
        "every task that produces its pipelinechannel--condition-branches-1-oneof-1"
    )


def test_loops_run_every_iteration_in_its_own_task_root_and_collect_outputs(
    tmp_path: Path,
) -> None:
    run = run_process(pipeline_components.summing, tmp_path, {"extra": [5, 6, 7]})
    assert run.succeeded and run.outputs == {"Output": 11 + 12 + 13}
    assert run.tasks["for-loop-2"].outputs == {"pipelinechannel--add-Output": [11, 12, 13]}
    assert [t.outputs["Output"] for n, t in run.tasks.items() if "/add-2" in n] == [5, 6, 7]
    # items that are dicts: the compiler's parseJson(...)["a"] field selection
    assert [t.outputs["Output"] for n, t in run.tasks.items() if "/add-3" in n] == [3, 7]
    assert "for-loop-2/iteration-2/add" in run.tasks
    run_dir = tmp_path / "gcs" / "cjob-emu" / "pipeline_root" / run.name
    assert sorted(p.name for p in (run_dir / "for-loop-2").iterdir()) == [
        "iteration-0",
        "iteration-1",
        "iteration-2",
    ]
    assert (run_dir / "for-loop-2" / "iteration-1" / "add" / "executor_output.json").exists()
    # parallelism is applied now (see test_a_loop_runs_at_most_parallelism_iterations_at_once)
    assert not [line for line in run.ignored if "loop iterations" in line]


def test_an_exit_handler_runs_after_its_group_fails_and_the_run_fails(tmp_path: Path) -> None:
    run = run_process(pipeline_components.guarded, tmp_path)
    assert not run.succeeded
    assert states(run) == {
        "exit-handler-1/fail": "FAILED",
        "exit-handler-1": "FAILED",
        "echo": "SUCCEEDED",
    }
    assert run.tasks["echo"].outputs == {"Output": "cleaned up"}
    with pytest.raises(JobFailedError, match="task exit-handler-1/fail failed"):
        run.raise_for_state()
    (tmp_path / "ok").mkdir()
    ok = run_process(pipeline_components.guarded_ok, tmp_path / "ok")
    assert ok.succeeded and states(ok) == {
        "exit-handler-1/add": "SUCCEEDED",
        "exit-handler-1": "SUCCEEDED",
        "echo": "SUCCEEDED",
    }


def test_cli_takes_input_artifacts_by_uri_or_host_path(tmp_path: Path, capsys: Any) -> None:
    path = compiled(pipeline_components.measuring, tmp_path)
    gcs = tmp_path / "gcs"
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(gcs), "--json"]
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    assert cli.main([*args, "--artifact", f"data={rows}"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"Output": 8}
    copied = "gs://cjob-emu/inputs/data/rows.csv"
    assert f"--artifact data: copied {rows} to {copied}" in err
    assert (gcs / "cjob-emu" / "inputs" / "data" / "rows.csv").read_text() == "a,b\n1,2\n"
    (gcs / "b").mkdir()
    (gcs / "b" / "more.csv").write_text("0123456789")
    assert cli.main([*args, "--artifact", "data=gs://b/more.csv"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"Output": 10}
    # a host path already inside the gs:// root is used where it is
    assert cli.main([*args, "--artifact", f"data={gcs / 'b' / 'more.csv'}"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"Output": 10} and "copied" not in err
    for given, message in [
        ("model=gs://b/more.csv", "--artifact model: the pipeline has no such input artifact"),
        ("data=gs://b/gone.csv", "--artifact data=gs://b/gone.csv: no such file under"),
        (f"data={tmp_path / 'gone.csv'}", f"--artifact data={tmp_path / 'gone.csv'}: no such"),
        ("data", "--artifact 'data': write NAME=gs://BUCKET/PATH or NAME=PATH"),
    ]:
        assert cli.main([*args, "--artifact", given]) == 2
        assert message in capsys.readouterr().err
    assert cli.main([*args]) == 2
    assert "pipeline input(s) data need a value" in capsys.readouterr().err


def test_a_loop_over_a_task_output_runs_a_customjob_where_its_condition_holds(
    tmp_path: Path,
) -> None:
    run = run_process(pipeline_components.counting, tmp_path)
    assert run.succeeded and run.outputs == {"Output": 2 + 4 + 6}
    assert states(run)["for-loop-1/iteration-1/condition-2/whoami"] == "SUCCEEDED"
    assert [states(run)[f"for-loop-1/iteration-{i}/condition-2"] for i in range(3)] == [
        "NOT_TRIGGERED",
        "SUCCEEDED",
        "NOT_TRIGGERED",
    ]
    job_root = f"gs://cjob-emu/pipeline_root/{run.name}/for-loop-1/iteration-1/whoami"
    resources = tmp_path / "gcs" / job_root.removeprefix("gs://") / "gcp_resources"
    assert "customJobs/" in resources.read_text()


def test_the_exit_tasks_failure_leaves_the_runs_state_to_its_group(tmp_path: Path) -> None:
    run = run_process(pipeline_components.guarded_bye_fails, tmp_path)
    assert run.succeeded and run.raise_for_state() is run
    assert states(run) == {
        "exit-handler-1/add": "SUCCEEDED",
        "exit-handler-1": "SUCCEEDED",
        "fail": "FAILED",
    }
    failed = run.failed_task
    assert failed is not None and "ValueError: goodbye failed" in failed.error


def test_an_empty_loop_collects_an_empty_list(tmp_path: Path) -> None:
    run = run_process(pipeline_components.counting, tmp_path, {"count": 0})
    assert run.succeeded and run.outputs == {"Output": 0}
    assert run.tasks["for-loop-1"].outputs == {"pipelinechannel--add-Output": []}


def test_container_components_are_refused_before_anything_runs(
    tmp_path: Path, capsys: Any
) -> None:
    gcs = tmp_path / "gcs"
    path = PIPELINES / "container_steps.yaml"
    assert cli.main(["run", str(path), "--backend", "process", "--gcs-root", str(gcs)]) == 2
    err = capsys.readouterr().err
    assert "tasks evaluate, prep are container components: on the process backend only" in err
    assert "use --backend docker" in err
    assert not (gcs / "cjob-emu" / "pipeline_root").exists()


def test_a_converted_container_component_that_writes_only_its_artifact_runs(
    tmp_path: Path,
) -> None:
    run = run_process(pipeline_components.mixed_steps, tmp_path)
    assert run.succeeded, run.failed_task
    assert states(run) == {"prep-rows": "SUCCEEDED", "train": "SUCCEEDED", "mae": "SUCCEEDED"}
    assert run.outputs == {"Output": 0.0}
    model = run.tasks["train"].outputs["model"]
    assert model["uri"] == f"gs://cjob-emu/pipeline_root/{run.name}/train/model"
    written = tmp_path / "gcs" / model["uri"].removeprefix("gs://")
    assert json.loads(written.read_text()) == {"a": 2.0, "b": 1.0, "trained_by": "workerpool0-0"}


def test_a_python_producer_that_writes_nothing_fails_the_run_naming_both_tasks(
    tmp_path: Path,
) -> None:
    run = run_process(pipeline_components.mixed_steps, tmp_path, {"write_data": False})
    assert not run.succeeded
    assert states(run) == {"prep-rows": "SUCCEEDED", "train": "FAILED", "mae": "NOT_RUN"}
    uri = f"gs://cjob-emu/pipeline_root/{run.name}/prep-rows/data"
    assert run.failed_task == run.tasks["train"]
    assert run.tasks["train"].error == (
        f"its input data comes from task prep-rows, which ran but wrote nothing at its "
        f"output artifact data ({uri}) and gave it no metadata"
    )
    with pytest.raises(JobFailedError, match="task train failed: its input data comes from"):
        run.raise_for_state()


def test_a_failure_stops_what_depends_on_it_and_the_rest_still_runs(
    tmp_path: Path, capsys: Any
) -> None:
    path = compiled(pipeline_components.fail_slow, tmp_path)
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    assert cli.main([*args, "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["succeeded"] is False
    tasks = summary["tasks"]
    assert {name: task["state"] for name, task in tasks.items()} == {
        "add": "SUCCEEDED",
        "fail": "FAILED",
        "add-2": "SUCCEEDED",
        "echo": "NOT_RUN",
    }
    assert tasks["echo"]["not_run"] == "task fail, which it depends on, did not succeed"
    assert cli.main(args) == 1
    shown = capsys.readouterr().out
    assert "pipeline run fail-slow-" in shown and ": FAILED" in shown
    assert "  task echo (container): NOT RUN: task fail, which it depends on" in shown


def _spans(run: Any, name_part: str) -> list[tuple[float, float]]:
    """(start, end) of each task whose name holds ``name_part`` (the stamp component's)."""
    return [
        tuple(json.loads(t.outputs["Output"]))
        for n, t in run.tasks.items()
        if name_part in n and t.kind == "custom-job"
    ]


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


def test_independent_tasks_run_at_the_same_time(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.side_by_side, tmp_path),
        {"seconds": 1.5},
        backend="process",
        gcs_root=tmp_path / "gcs",
        echo=False,
        max_parallel=3,
    )
    assert run.succeeded, run.failed_task
    spans = _spans(run, "stamp")
    assert len(spans) == 3
    assert _most_at_once(spans) == 3, spans


def test_max_parallel_bounds_the_tasks_at_once(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.side_by_side, tmp_path),
        {"seconds": 1.0},
        backend="process",
        gcs_root=tmp_path / "gcs",
        echo=False,
        max_parallel=1,
    )
    assert run.succeeded and _most_at_once(_spans(run, "stamp")) == 1


def test_a_loop_runs_at_most_parallelism_iterations_at_once(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.bounded_loop, tmp_path),
        {"seconds": 1.0},
        backend="process",
        gcs_root=tmp_path / "gcs",
        echo=False,
        max_parallel=4,  # the loop's parallelism (2) is the bound, not the run's
    )
    assert run.succeeded, run.failed_task
    spans = _spans(run, "/stamp")
    assert len(spans) == 4
    assert _most_at_once(spans) == 2, spans
    # the task list reads in the pipeline's order, whatever order the iterations ended in
    assert list(run.tasks) == [
        *(f"for-loop-2/iteration-{i}/stamp" for i in range(4)),
        "for-loop-2",
    ]


def test_a_retry_policy_runs_a_failed_task_again(tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    run = run_process(pipeline_components.retrying, tmp_path, {"marker": str(marker)})
    assert run.succeeded, run.failed_task
    assert run.outputs == {"Output": 2}
    assert run.tasks["flaky"].attempts == 2
    assert not [line for line in run.ignored if "retry" in line]


def test_a_task_that_fails_every_retry_fails_the_run(tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    run = run_process(
        pipeline_components.retrying, tmp_path, {"marker": str(marker), "fail_times": 5}
    )
    assert not run.succeeded
    flaky = run.tasks["flaky"]
    assert flaky.state == "FAILED" and flaky.attempts == 3
    assert "RuntimeError: attempt 3 fails" in flaky.error
    assert marker.read_text() == "3"


def test_max_parallel_on_the_command_line(tmp_path: Path, capsys: Any) -> None:
    path = compiled(pipeline_components.side_by_side, tmp_path)
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    assert cli.main([*args, "--max-parallel", "0"]) == 2
    assert "--max-parallel 0: give 1 or more" in capsys.readouterr().err
    job = FIXTURES / "jobs" / "single_rest.json"
    assert cli.main(["run", str(job), "--backend", "process", "--max-parallel", "2"]) == 2
    assert "--max-parallel apply to pipelines" in capsys.readouterr().err
    assert cli.main([*args, "--max-parallel", "1", "--param", "seconds=0.1"]) == 0
