"""A pipeline's own inputs: parameters with their defaults, and input artifacts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cjob_emu.errors import InputError
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.launcher.executor_input import missing_inputs, parameter_values


def pipeline_arguments(
    spec: Mapping[str, Any], arguments: Mapping[str, Any], gcs: GcsRoot
) -> dict[str, Any]:
    definitions = spec["root"].get("inputDefinitions", {})
    artifacts = {
        name: _artifact_argument(name, arguments[name], definition, gcs)
        for name, definition in definitions.get("artifacts", {}).items()
        if name in arguments
    }
    known = {**definitions.get("parameters", {}), **definitions.get("artifacts", {})}
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise InputError(
            f"the pipeline has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(sorted(known)) or 'none'}"
        )
    values = parameter_values(
        spec["root"], {k: v for k, v in arguments.items() if k not in artifacts}
    )
    values.update(artifacts)
    missing = missing_inputs(spec["root"], values)
    if missing:
        raise InputError(f"pipeline input(s) {', '.join(missing)} need a value")
    return values


def _artifact_argument(
    name: str, value: Any, definition: Mapping[str, Any], gcs: GcsRoot
) -> dict[str, Any]:
    """An input artifact given by the caller (a kfp ``dsl.Artifact``), as RuntimeArtifact
    JSON with a gs:// URI; its ``uri`` may be gs:// or a host path inside the gs:// root."""
    uri = getattr(value, "uri", None)
    if not isinstance(uri, str) or not uri:
        raise InputError(
            f"input artifact {name!r} must be a kfp dsl.Artifact (e.g. dsl.Dataset(uri=...)) "
            f"with a uri, got {type(value).__name__}"
        )
    if not uri.startswith("gs://"):
        if not gcs.holds(uri):
            raise InputError(
                f"input artifact {name!r}: {uri} is neither a gs:// URI nor a path inside "
                f"the gs:// root {gcs.path}; put the file there so replicas see it under /gcs"
            )
        uri = gcs.uri(uri)
    return {
        "name": getattr(value, "name", "") or name,
        "type": dict(definition.get("artifactType", {})),
        "uri": uri,
        "metadata": dict(getattr(value, "metadata", {}) or {}),
    }
