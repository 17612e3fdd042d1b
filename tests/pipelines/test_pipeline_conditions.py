"""The condition evaluator on what KFP's compiler writes for dsl.If/Elif/Else/Condition,
and malformed conditions refused. Pure: no task runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler
from support import pipeline_components

from cjob_emu.errors import InputError
from cjob_emu.pipelines import run_pipeline
from cjob_emu.pipelines.conditions import ConditionError, holds, parse


def conditions(pipeline: Any, tmp_path: Path) -> dict[str, str]:
    """Every task's trigger condition in the compiled ``pipeline``, by task name."""
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    spec = yaml.safe_load(path.read_text())
    dags = [spec["root"], *(c for c in spec["components"].values() if "dag" in c)]
    return {
        name: task["triggerPolicy"]["condition"]
        for dag in dags
        for name, task in dag["dag"]["tasks"].items()
        if task.get("triggerPolicy", {}).get("condition")
    }


def branch_taken(found: dict[str, str], values: dict[str, Any]) -> list[str]:
    return sorted(name for name, text in found.items() if holds(text, values))


def test_an_if_elif_else_chain_takes_exactly_one_branch(tmp_path: Path) -> None:
    found = conditions(pipeline_components.branching, tmp_path)
    assert len(found) == 4
    # what the compiler wrote: casts, negations of the earlier branches, &&
    assert "int(inputs.parameter_values['pipelinechannel--n']) > 3" in found["condition-3"]
    assert "<= 2.0" in found["condition-4"] and found["condition-5"].count("!(") == 3

    def values(side: str, n: int, halved: float) -> dict[str, Any]:
        return {
            "pipelinechannel--echo-Output": side,
            "pipelinechannel--n": n,
            "pipelinechannel--half-Output": halved,
        }

    assert branch_taken(found, values("heads", 9, 0.5)) == ["condition-2"]
    assert branch_taken(found, values("tails", 4, 0.5)) == ["condition-3"]
    assert branch_taken(found, values("tails", 3, 2.0)) == ["condition-4"]
    assert branch_taken(found, values("tails", 3, 2.5)) == ["condition-5"]
    # an integer arrives as a double from a JSON/protobuf value: int() takes it
    assert branch_taken(found, values("tails", 4.0, 9.0)) == ["condition-3"]  # type: ignore[arg-type]


def test_boolean_conditions_of_the_legacy_condition_and_if(tmp_path: Path) -> None:
    found = conditions(pipeline_components.flagged, tmp_path)
    assert sorted(found.values()) == [
        "inputs.parameter_values['pipelinechannel--flag'] != true",
        "inputs.parameter_values['pipelinechannel--flag'] == true",
    ]
    assert branch_taken(found, {"pipelinechannel--flag": True}) == ["condition-1"]
    assert branch_taken(found, {"pipelinechannel--flag": False}) == ["condition-2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("double(int(inputs.parameter_values['n'])) != 2.5", True),
        ("inputs.parameter_values['s'] < 'b' && inputs.parameter_values['s'] >= 'a'", True),
        ("inputs.parameter_values['s'] == 'x' || int(inputs.parameter_values['n']) >= 2", True),
        ("!(inputs.parameter_values['s'] == 'a') || false", False),
        ("inputs.parameter_values['n'] > -1 && inputs.parameter_values['d'] <= double(2)", True),
        ("int(inputs.parameter_values['t']) == 7", True),  # int() parses a numeric string
        # CEL's heterogeneous equality: a number is never equal to a string
        ("inputs.parameter_values['n'] == '2'", False),
        ("inputs.parameter_values['n'] != '2' && inputs.parameter_values['n'] == 2.0", True),
    ],
)
def test_the_cel_subset(text: str, expected: bool) -> None:
    values = {"n": 2, "s": "a", "d": 1.5, "t": "7"}
    assert parse(text).holds(values) is expected
    assert parse(text).inputs <= set(values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs.parameter_values['s'] < 3", "cannot compare 'a' \\(string\\) with 3"),
        ("inputs.parameter_values['gone'] == 'a'", "no value for input 'gone'"),
        ("int(inputs.parameter_values['s']) == 1", "int\\('a'\\) is not a number"),
        ("inputs.parameter_values['s']", "not true or false"),
    ],
)
def test_values_a_condition_cannot_compare_are_errors(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        holds(text, {"s": "a"})


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "inputs.parameter_values['s'] == 'a' &&",
        "size(inputs.parameter_values['s']) > 1",
        "inputs.parameter_values['s'] == 'a')",
        "inputs.parameter_values[s] == 'a'",
    ],
)
def test_anything_outside_the_subset_is_refused(text: str) -> None:
    with pytest.raises(ConditionError, match="condition"):
        parse(text)


def test_a_pipeline_with_a_condition_the_runner_cannot_read_is_refused_before_it_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flagged.yaml"
    compiler.Compiler().compile(pipeline_components.flagged, str(path))
    spec = yaml.safe_load(path.read_text())
    spec["root"]["dag"]["tasks"]["condition-1"]["triggerPolicy"]["condition"] = "size(x) > 1"
    with pytest.raises(InputError, match="task condition-1: its condition is not one"):
        run_pipeline(spec, gcs_root=tmp_path / "gcs")
