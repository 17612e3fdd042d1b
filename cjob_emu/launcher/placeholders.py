"""KFP placeholders and the launcher's payload handling, as pure functions.

Used at conversion (render ``Concat``/``IfPresent``, escape the executor input),
when checking compiled pipelines (fill in compile-time values the way the
Vertex Pipelines backend does) and by the local runner (treat the payload
exactly as GCPC's launcher does). No I/O here.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cjob_emu.errors import ConversionError

EXECUTOR_INPUT = "{{$}}"
JSON_ESCAPED_EXECUTOR_INPUT = "{{$.json_escape[1]}}"
"""The executor input, JSON-escaped once: what a pool's args need, since the
pools sit inside the payload's JSON text."""

EXECUTOR_INPUT_ANYWHERE = re.compile(r"\{\{\$(?:\.json_escape\[\d+\])?\}\}")
"""``{{$}}`` or ``{{$.json_escape[N]}}``: what the backend replaces with the executor input."""
INPUT_PARAMETER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
ANY_PLACEHOLDER = re.compile(r"\{\{\$[^{}]*\}\}")

Presence = Callable[[str], "bool | None"]
"""Whether an input is given to the task: True, False, or None when only known at run time."""


def is_structure(element: str) -> bool:
    """True for a serialized ``Concat`` or ``IfPresent`` placeholder."""
    return element.startswith(('{"Concat": ', '{"IfPresent": '))


def render_structures(elements: Sequence[str], present: Presence) -> list[str]:
    """Command or args with every ``Concat`` rendered as one string and every
    ``IfPresent`` replaced by its chosen branch (which may be several elements).

    Raises :class:`ConversionError` for an ``IfPresent`` whose input's presence
    ``present`` cannot tell, and for structures KFP itself would reject.
    """
    rendered: list[str] = []
    for element in elements:
        if not is_structure(element):
            rendered.append(element)
            continue
        try:
            structure = json.loads(element)
        except json.JSONDecodeError:
            rendered.append(element)
            continue
        rendered.extend(_flatten(_render(structure, present)))
    return rendered


def _render(node: Any, present: Presence) -> Any:
    """A string, a list of strings, or None (an IfPresent with no branch taken)."""
    if node is None or isinstance(node, str):
        return node
    if isinstance(node, list):
        return [_render(item, present) for item in node]
    if isinstance(node, dict) and set(node) == {"Concat"}:
        parts = [_render(part, present) for part in node["Concat"]]
        if any(isinstance(part, list) for part in parts):
            raise ConversionError(
                f"Concat {json.dumps(node)} has a part that is a list of arguments; "
                "every part must render to one string"
            )
        return "".join(part for part in parts if part is not None)
    if isinstance(node, dict) and set(node) == {"IfPresent"}:
        branch = node["IfPresent"]
        name = branch["InputName"]
        given = present(name)
        if given is None:
            raise ConversionError(
                f"IfPresent on input {name!r} cannot be converted: {name!r} is optional "
                "without a default, so whether a task gives it is only known at run time, "
                "and Vertex would pass the IfPresent structure to the container as literal "
                "text (kubeflow/pipelines#12498). Give the input a default or make it required."
            )
        return _render(branch.get("Then") if given else branch.get("Else"), present)
    raise ConversionError(f"unknown placeholder structure {json.dumps(node)}")


def _flatten(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [item for part in value for item in _flatten(part)]


def escape_executor_input(elements: Sequence[str]) -> list[str]:
    """Elements with the executor input placeholder made JSON-escaped, as the
    payload needs; also where it sits inside a longer string (a rendered Concat)."""
    return [element.replace(EXECUTOR_INPUT, JSON_ESCAPED_EXECUTOR_INPUT) for element in elements]


def integral_floats_as_ints(value: Any) -> Any:
    """The value with every integral float made an int (``1.0`` -> ``1``).

    Pipeline specs store every number as a double; CustomJob's int32 fields
    (``replica_count``, ``boot_disk_size_gb``) do not parse ``1.0``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: integral_floats_as_ints(item) for key, item in value.items()}
    return value


def parameter_text(value: Any) -> str:
    """A parameter value as the backend writes it in place of its placeholder:
    strings as they are (unescaped), everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(integral_floats_as_ints(value), ensure_ascii=False)


def substitute_parameters(text: str, lookup: Callable[[str], str | None]) -> str:
    """``text`` with each ``{{$.inputs.parameters['name']}}`` replaced by
    ``lookup(name)``; placeholders it answers None for stay as they are.

    One pass: placeholders inside substituted values are left for the next.
    """

    def replace(match: re.Match[str]) -> str:
        value = lookup(match.group(1))
        return match.group(0) if value is None else value

    return INPUT_PARAMETER.sub(replace, text)


def needs_json_escape(text: str) -> bool:
    """True when ``text`` between JSON quotes, unescaped, would break the JSON or
    change meaning (a quote, a backslash, a control character)."""
    return json.dumps(text, ensure_ascii=False)[1:-1] != text


def remove_empty(value: Any) -> Any:
    """GCPC's launcher's empty-value pass, repeated until nothing changes.

    Drops dict entries whose value is falsy (``""``, 0, False, [], {}, null) and
    dicts or lists inside lists that end up empty; scalars inside lists stay.
    """
    while True:
        cleaned = _remove_empty_once(value)
        if json.dumps(cleaned) == json.dumps(value):
            return cleaned
        value = cleaned


def _remove_empty_once(value: Any) -> Any:
    if isinstance(value, list):
        kept = []
        for item in value:
            if isinstance(item, (int, float, str, bool)):
                kept.append(item)
            elif _remove_empty_once(item):
                kept.append(_remove_empty_once(item))
        return kept
    if isinstance(value, dict):
        return {key: _remove_empty_once(item) for key, item in value.items() if item}
    return value


def launcher_job(
    payload: Mapping[str, Any], system_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The CustomJob GCPC's launcher creates from a parsed payload.

    ``system_labels`` are the run's labels (``VERTEX_AI_PIPELINES_RUN_LABELS``),
    merged under the payload's own labels; then empty values are removed, and
    ``max_wait_duration`` is dropped unless the strategy is ``FLEX_START``.
    """
    job = copy.deepcopy(dict(payload))
    if system_labels is not None:
        own = job.get("labels")
        job["labels"] = {**system_labels, **own} if own is not None else dict(system_labels)
    job = remove_empty(job)
    scheduling = job.get("job_spec", {}).get("scheduling", {})
    if (
        "strategy" in scheduling
        and scheduling["strategy"] != "FLEX_START"
        and "max_wait_duration" in scheduling
    ):
        del scheduling["max_wait_duration"]
    return job


def dropped_pools(pools: Sequence[Any]) -> list[int]:
    """Indexes of the pools the launcher's empty-value pass removes."""
    return [
        i
        for i, pool in enumerate(pools)
        if not isinstance(pool, (int, float, str, bool)) and not remove_empty(pool)
    ]


def shifted_roles(pools: Sequence[Any]) -> list[tuple[int, int]]:
    """(index in the payload, index after the launcher) of every pool that the
    removal of an empty pool before it moves to another role."""
    dropped = set(dropped_pools(pools))
    moves = []
    position = 0
    for i in range(len(pools)):
        if i in dropped:
            continue
        if position != i:
            moves.append((i, position))
        position += 1
    return moves


# What the Vertex Pipelines backend does at run time, for the local runner.

_IO = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\]"
    r"(?:\.(output_file|uri|path|metadata)(?:\['([^']+)'\])?)?\}\}"
)
_EXECUTOR_INPUT_FORMS = re.compile(r"\{\{\$(?:\.json_escape\[1\])?\}\}")
_OUTPUT_FILE = ("{{$.outputs.output_file}}", "{{$.outputMetadataUri}}")


def gcs_path(uri: str) -> str:
    """Where a replica sees a ``gs://`` URI: Cloud Storage FUSE under ``/gcs/``."""
    return "/gcs/" + uri[len("gs://") :] if uri.startswith("gs://") else uri


def resolve_io(
    text: str,
    executor_input: Mapping[str, Any],
    *,
    path_of: Callable[[str], str] = gcs_path,
) -> str:
    """``text`` with the task's input, output and executor-input placeholders filled in,
    unescaped, as the backend fills them in a container's command line.

    ``executor_input`` is KFP's ExecutorInput as JSON data; an artifact's ``.path``
    is ``path_of(uri)``. ``{{$.json_escape[1]}}`` becomes the executor input
    escaped once, for its place inside the launcher's JSON payload. Placeholders
    of anything the executor input lacks stay as they are.
    """
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})

    def replace(match: re.Match[str]) -> str:
        side, kind, name, attribute, key = match.groups()
        if kind == "parameters":
            if side == "inputs":
                values = inputs.get("parameterValues", {})
                return parameter_text(values[name]) if name in values else match.group(0)
            output = outputs.get("parameters", {}).get(name)
            if output is None or attribute != "output_file":
                return match.group(0)
            return str(output["outputFile"])
        holder = (inputs if side == "inputs" else outputs).get("artifacts", {}).get(name)
        if not holder or not holder.get("artifacts") or attribute is None:
            return match.group(0)
        artifact = holder["artifacts"][0]
        if attribute == "uri":
            return str(artifact.get("uri", ""))
        if attribute == "path":
            return path_of(str(artifact.get("uri", "")))
        metadata = artifact.get("metadata", {})
        return parameter_text(metadata.get(key) if key else metadata)

    resolved = _IO.sub(replace, text)
    output_file = outputs.get("outputFile")
    if output_file is not None:
        for placeholder in _OUTPUT_FILE:
            resolved = resolved.replace(placeholder, str(output_file))
    whole = json.dumps(executor_input)
    forms = {JSON_ESCAPED_EXECUTOR_INPUT: json.dumps(whole)[1:-1], EXECUTOR_INPUT: whole}
    # One pass: a "{{$}}" inside the executor input's own values must stay as it is.
    return _EXECUTOR_INPUT_FORMS.sub(lambda match: forms[match.group(0)], resolved)


def resolve_pipeline_placeholders(text: str, values: Mapping[str, str]) -> str:
    """``text`` with pipeline-level placeholders (``{{$.pipeline_google_cloud_project_id}}``,
    ``{{$.pipeline_job_name}}``...) replaced by ``values``, keyed by placeholder text."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def launch_notes(payload: Mapping[str, Any]) -> list[str]:
    """What GCPC's launcher changes in a parsed payload that the user may not expect."""
    notes = []
    pools = payload.get("job_spec", {}).get("worker_pool_specs")
    if isinstance(pools, list) and shifted_roles(pools):
        notes.append(
            f"empty pool(s) {', '.join(map(str, dropped_pools(pools)))} are removed by GCPC's "
            "launcher, so "
            + ", ".join(f"pool {old} runs as pool {new}" for old, new in shifted_roles(pools))
            + " (another role) on Vertex"
        )
    scheduling = payload.get("job_spec", {}).get("scheduling", {})
    if (
        scheduling.get("max_wait_duration")
        and scheduling.get("strategy")
        and scheduling["strategy"] != "FLEX_START"
    ):
        notes.append(
            f"max_wait_duration {scheduling['max_wait_duration']!r} is dropped: the launcher "
            "keeps it only with strategy FLEX_START"
        )
    return notes
