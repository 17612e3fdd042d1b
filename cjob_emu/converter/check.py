"""Check the CustomJob a launcher task would create, from what is known before it runs.

The Vertex Pipelines backend writes each input's value in place of its
placeholder in the launcher's ``--payload`` (strings unescaped, other values
as JSON); the launcher parses the text, removes empty values and creates the
job. :func:`check_payload` does the same with the values known at compile time
and validates the result; :func:`validate_pipeline` does it for every
CustomJob task of a compiled pipeline, ours or GCPC's. Pure: no kfp needed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from cjob_emu.errors import InputError
from cjob_emu.launcher.contract import (
    JOB_INPUTS_BY_NAME,
    PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    is_launcher_container,
    launcher_arg,
)
from cjob_emu.launcher.pipeline_spec import is_compiled_pipeline, read_pipeline
from cjob_emu.launcher.placeholders import (
    ANY_PLACEHOLDER,
    EXECUTOR_INPUT_ANYWHERE,
    INPUT_PARAMETER,
    is_structure,
    launcher_job,
    needs_json_escape,
    parameter_text,
    shifted_roles,
    substitute_parameters,
)
from cjob_emu.validate import Problem, ValidationReport, validate

PipelineSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


@dataclass(frozen=True)
class RuntimeValue:
    """A value only known when the pipeline runs; ``source`` says where it comes from."""

    source: str


def check_payload(
    payload: str,
    values: Mapping[str, Any],
    *,
    location: str | None = None,
    note_runtime: bool = True,
) -> ValidationReport:
    """Validate the CustomJob the launcher would create from ``payload``.

    ``values`` maps input names (the job's and the wrapped component's) to their
    values, or to :class:`RuntimeValue` when unknown until run time; what depends
    on those is left unchecked, with a warning unless ``note_runtime`` is False. Errors cover values
    that break the payload's JSON, empty pools that shift later pools' roles, and
    everything :func:`cjob_emu.validate.validate` finds in the resulting job.
    """
    values_in = _Substitution(values)
    errors = list(_executor_input_problems(values))
    warnings: list[Problem] = []
    text = substitute_parameters(payload, values_in.lookup)
    errors.extend(values_in.errors)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(Problem("payload", f"not valid JSON once values are in: {exc}", "error"))
        return ValidationReport(errors=errors, warnings=warnings)
    if not isinstance(parsed, dict):
        errors.append(Problem("payload", "is not a JSON object", "error"))
        return ValidationReport(errors=errors, warnings=warnings)
    pools = parsed.get("job_spec", {}).get("worker_pool_specs")
    if isinstance(pools, list):
        errors.extend(_argument_problems(pools, values_in.known))
        errors.extend(_shifted_pool_problems(pools))
        warnings.extend(_literal_structures(pools))
    job = launcher_job(parsed)
    unchecked = _leave_unchecked(job, values_in.runtime, warnings if note_runtime else [])
    report = validate(job, location=location)
    errors.extend(p for p in report.errors if not _under_any(p.field, unchecked))
    warnings.extend(report.warnings)
    return ValidationReport(errors=errors, warnings=warnings)


class _Substitution:
    """The payload's placeholders as the backend fills them in from ``values``: what is
    known, what waits for run time (``runtime``), and values that break the JSON."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.errors: list[Problem] = []
        self.runtime: dict[str, RuntimeValue] = {}

    def known(self, name: str) -> Any:
        value = self.values.get(name, RuntimeValue("no value given"))
        if name == "persistent_resource_id" and value == PERSISTENT_RESOURCE_ID_PLACEHOLDER:
            # Empty unless the pipeline job runs on a persistent resource.
            return ""
        if isinstance(value, str) and ANY_PLACEHOLDER.search(value):
            return RuntimeValue(f"placeholder {value}")
        return value

    def lookup(self, name: str) -> str | None:
        value = self.known(name)
        job_input = JOB_INPUTS_BY_NAME.get(name)
        quoted = job_input is None or job_input.quoted
        if isinstance(value, RuntimeValue):
            self.runtime[name] = value
            return None if quoted else "null"
        if value is None and quoted:
            return ""
        text = parameter_text(value)
        if quoted and needs_json_escape(text):
            field = job_input.field if job_input and job_input.field else name
            self.errors.append(
                Problem(
                    field,
                    f"{name} is {text!r}: GCPC's launcher payload puts it between quotes "
                    "unescaped, and a quote, backslash or control character breaks the JSON "
                    "(or changes the value) on Vertex. Leave those characters out.",
                    "error",
                )
            )
            return json.dumps(text, ensure_ascii=False)[1:-1]
        return text


def _shifted_pool_problems(pools: list[Any]) -> Iterator[Problem]:
    for old, new in shifted_roles(pools):
        yield Problem(
            f"job_spec.worker_pool_specs[{old}]",
            f"an empty pool before it is removed by GCPC's launcher, so pool {old} "
            f"runs as pool {new} on Vertex (another role); give the empty pool "
            "replicas or leave out the pools after it",
            "error",
        )


def _leave_unchecked(
    job: dict[str, Any], runtime: Mapping[str, RuntimeValue], warnings: list[Problem]
) -> list[str]:
    """The fields set only at run time, taken out of ``job`` (the display name stays, the
    job needs one), each noted in ``warnings``; their paths."""
    unchecked = []
    for name, value in runtime.items():
        job_input = JOB_INPUTS_BY_NAME.get(name)
        if job_input is None or job_input.field is None:
            continue
        unchecked.append(job_input.field)
        if name != "display_name":
            _delete(job, job_input.field)
        message = f"set at run time ({value.source}); not checked"
        warnings.append(Problem(job_input.field, message, "warning"))
    return unchecked


def _argument_problems(pools: list[Any], known: Any) -> Iterator[Problem]:
    """Placeholders inside the pools are filled in unescaped too: a known value
    that needs escaping breaks the payload on Vertex."""
    for path, text in _strings(pools, "job_spec.worker_pool_specs"):
        for match in INPUT_PARAMETER.finditer(text):
            value = known(match.group(1))
            if isinstance(value, RuntimeValue) or value is None:
                continue
            rendered = parameter_text(value)
            if needs_json_escape(rendered):
                yield Problem(
                    path,
                    f"input {match.group(1)!r} is {rendered!r}: the backend writes it into "
                    "the payload's JSON unescaped, and its quote, backslash or control "
                    "character breaks the payload on Vertex",
                    "error",
                )


def _executor_input_problems(values: Mapping[str, Any]) -> Iterator[Problem]:
    """The backend replaces {{$}} and {{$.json_escape[N]}} anywhere in the launcher's
    arguments with the task's executor input, so inside a value (a name, an env value,
    an input's default) they change it or break the payload's JSON. Only the pools' own
    arguments may hold them: that is how a component gets its executor input."""
    for name, value in values.items():
        if name == "worker_pool_specs":
            what = "an env value"
            found = [
                (path, text)
                for path, text in _strings(value, "job_spec.worker_pool_specs")
                if re.search(r"\.env\[\d+\]\.value$", path)
            ]
        else:
            what = f"input {name!r}"
            job_input = JOB_INPUTS_BY_NAME.get(name)
            field = job_input.field if job_input and job_input.field else name
            found = list(_strings(value, field))
        for path, text in found:
            if EXECUTOR_INPUT_ANYWHERE.search(text):
                yield Problem(
                    path,
                    f"{what} holds {text!r}: the Vertex Pipelines backend replaces "
                    "{{$}} and {{$.json_escape[N]}} in it with the task's executor input, "
                    "which changes the value or breaks the launcher's payload. Leave them out.",
                    "error",
                )


def _literal_structures(pools: list[Any]) -> Iterator[Problem]:
    """GCPC's converter leaves Concat and IfPresent in the pools as JSON text, which
    Vertex does not resolve there (kubeflow/pipelines#12498)."""
    for path, text in _strings(pools, "job_spec.worker_pool_specs"):
        if is_structure(text):
            yield Problem(
                path,
                f"{text[:60]}... reaches the container as literal JSON text: Vertex does not "
                "resolve Concat or IfPresent inside a CustomJob's pools "
                "(kubeflow/pipelines#12498); cjob-emu's converter renders them",
                "warning",
            )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")


def _delete(job: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node: Any = job
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def _under_any(field: str, prefixes: list[str]) -> bool:
    return any(field == p or field.startswith((p + ".", p + "[")) for p in prefixes)


def validate_pipeline(
    source: PipelineSource, *, location: str | None = None
) -> dict[str, ValidationReport]:
    """A report for every CustomJob task of a compiled pipeline, by task name.

    Values come from the tasks' constants, the components' defaults and the
    pipeline parameters' defaults; tasks inside sub-DAGs are named by their
    path (``outer/inner``). Values from upstream outputs or set only at run time
    are reported as warnings and left unchecked.
    """
    spec = dict(source) if isinstance(source, Mapping) else read_pipeline(source)
    if not is_compiled_pipeline(spec):
        raise InputError("not a compiled pipeline (no pipelineInfo/deploymentSpec/root)")
    root = spec["root"]
    env = _defaults(root, lambda name: RuntimeValue(f"pipeline parameter {name}, no default"))
    reports: dict[str, ValidationReport] = {}
    _walk(spec, root.get("dag", {}), env, "", reports, location)
    return reports


def _walk(
    spec: Mapping[str, Any],
    dag: Mapping[str, Any],
    env: Mapping[str, Any],
    prefix: str,
    reports: dict[str, ValidationReport],
    location: str | None,
) -> None:
    components = spec.get("components", {})
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for task_name, task in dag.get("tasks", {}).items():
        component = components.get(task.get("componentRef", {}).get("name", ""), {})
        values = _task_values(task, component, env)
        name = prefix + task_name
        if "dag" in component:
            _walk(spec, component["dag"], values, name + "/", reports, location)
            continue
        container = executors.get(component.get("executorLabel", ""), {}).get("container")
        if not container or not is_launcher_container(container):
            continue
        payload = launcher_arg(list(container.get("args", [])), "--payload")
        if payload is None:
            problem = Problem("payload", "the launcher task has no --payload argument", "error")
            reports[name] = ValidationReport(errors=[problem], warnings=[])
            continue
        reports[name] = check_payload(payload, values, location=location)


def _defaults(component: Mapping[str, Any], missing: Any) -> dict[str, Any]:
    params = component.get("inputDefinitions", {}).get("parameters", {})
    return {
        name: d["defaultValue"] if "defaultValue" in d else missing(name)
        for name, d in params.items()
    }


def _task_values(
    task: Mapping[str, Any], component: Mapping[str, Any], env: Mapping[str, Any]
) -> dict[str, Any]:
    params = component.get("inputDefinitions", {}).get("parameters", {})

    def missing(name: str) -> Any:
        if params[name].get("isOptional", False):
            return None  # an optional input nobody sets: absent, like GCPC's labels
        return RuntimeValue(f"required input {name} is not given")

    values = _defaults(component, missing)
    for name, given in task.get("inputs", {}).get("parameters", {}).items():
        values[name] = _input_value(given, env)
    return values


def _input_value(given: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
    if "parameterExpressionSelector" in given:
        return RuntimeValue("a selected field of another value")
    if "runtimeValue" in given:
        return given["runtimeValue"].get("constant")
    if "componentInputParameter" in given:
        name = given["componentInputParameter"]
        return env.get(name, RuntimeValue(f"pipeline input {name}"))
    if "taskOutputParameter" in given:
        output = given["taskOutputParameter"]
        return RuntimeValue(
            f"output {output.get('outputParameterKey')} of task {output.get('producerTask')}"
        )
    return RuntimeValue("a value set when the pipeline runs")
