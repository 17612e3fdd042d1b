"""The converter: a KFP component in, a component that runs it as a Vertex CustomJob out.

Same parameters, defaults and compiled pipeline spec as GCPC 2.22's
``create_custom_training_job_from_component``, so the result runs on Vertex
Pipelines with GCPC's own launcher image; minus its defects (each refused or
fixed here with a clear error, see :func:`create_custom_training_job_from_component`);
plus pools of their own per role and Python package training.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from google.cloud.aiplatform_v1 import PythonPackageSpec, WorkerPoolSpec

from cjob_emu.converter.check import RuntimeValue, check_payload
from cjob_emu.converter.options import (
    Container,
    check_types,
    check_values,
    custom_pools,
    gcpc_pools,
)
from cjob_emu.errors import ConversionError, InvalidJobError
from cjob_emu.launcher.contract import (
    DEFAULT_LAUNCHER_TAG,
    GCP_RESOURCES,
    JOB_INPUTS,
    JOB_INPUTS_BY_NAME,
    PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    RESERVED_NAMES,
    is_launcher_container,
    launcher_container,
    payload_template,
)
from cjob_emu.launcher.placeholders import (
    escape_executor_input,
    needs_json_escape,
    render_structures,
)
from cjob_emu.optional import require

if TYPE_CHECKING:
    from kfp.dsl.base_component import BaseComponent


def create_custom_training_job_from_component(
    component_spec: Any,
    display_name: str = "",
    replica_count: int = 1,
    machine_type: str = "n1-standard-4",
    accelerator_type: str = "",
    accelerator_count: int = 1,
    boot_disk_type: str = "pd-ssd",
    boot_disk_size_gb: int = 100,
    timeout: str = "604800s",
    restart_job_on_worker_restart: bool = False,
    service_account: str = "",
    network: str = "",
    encryption_spec_key_name: str = "",
    tensorboard: str = "",
    enable_web_access: bool = False,
    reserved_ip_ranges: list[str] | None = None,
    nfs_mounts: list[dict[str, str]] | None = None,
    base_output_directory: str = "",
    labels: dict[str, str] | None = None,
    persistent_resource_id: str = PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    env: list[dict[str, str]] | dict[str, str] | None = None,
    strategy: str = "STANDARD",
    max_wait_duration: str = "86400s",
    reservation_affinity_type: str | None = None,
    reservation_affinity_key: str | None = None,
    reservation_affinity_values: list[str] | None = None,
    psc_interface_config: dict[str, Any] | None = None,
    *,
    worker_pool_specs: Sequence[WorkerPoolSpec | Mapping[str, Any] | None]
    | Mapping[str, WorkerPoolSpec | Mapping[str, Any] | None]
    | None = None,
    python_package: PythonPackageSpec | Mapping[str, Any] | None = None,
    launcher_image_tag: str = DEFAULT_LAUNCHER_TAG,
    validate_location: str | None = None,
) -> BaseComponent:
    """Wrap a KFP container or lightweight Python component so it runs as a Vertex CustomJob.

    The positional parameters are GCPC's, with its defaults: they shape one pool of
    the component's container (plus a copy holding ``replica_count - 1`` more
    replicas) and become the defaults of the job inputs every task may override
    (``timeout``, ``service_account``, ``display_name``...). Beyond GCPC:

    - ``worker_pool_specs``: the pools themselves, in role order (chief, workers,
      parameter servers, evaluator) or as a dict by role name; builder pools
      (:func:`cjob_emu.container_pool`...) or dicts. A pool takes from the
      component's container what it leaves unset (image, command, args); ``None``
      or ``{}`` skips a role, which only works after the last pool in use.
    - ``python_package``: train with a Python package (executor image, package
      URIs, module) in GCPC's pools instead of the container; with no ``args``
      of its own, the package gets the component's.
    - ``launcher_image_tag``: the tag of GCPC's launcher image the task runs.
    - ``validate_location``: the region the pools are checked against.

    Unlike GCPC, it refuses (:class:`~cjob_emu.errors.ConversionError`) what would
    not work on Vertex: something that is not a single container component, a
    component input or output named like a job input, an option of the wrong
    type, a string the payload's JSON cannot hold unescaped, an empty pool before
    one in use, an ``IfPresent`` whose input's presence is unknown; and raises
    :class:`~cjob_emu.errors.InvalidJobError` when the job the options describe
    breaks Vertex's rules (an unknown machine and accelerator pair, a bad timeout).
    ``Concat`` placeholders are rendered into one argument instead of being passed
    to the container as JSON text.
    """
    options = {name: value for name, value in locals().items() if name != "component_spec"}
    check_types(options)
    check_values(options, _defaults())
    kfp = _kfp()
    source = _Source.of(component_spec, kfp)
    _check_reserved_names(source)
    container = Container(
        image=source.container["image"],
        command=_command_line(source.container.get("command", []), source),
        args=_command_line(source.container.get("args", []), source),
    )
    if worker_pool_specs is None:
        pools = gcpc_pools(container, options)
    else:
        pools = custom_pools(container, worker_pool_specs)
    values = _job_input_values(options, source.name, pools)
    _check_quoted_values(values)
    _check_job(values, source, validate_location)
    spec = _pipeline_spec(source, values, launcher_image_tag, kfp)
    component = kfp.components.load_component_from_text(yaml.safe_dump(spec, sort_keys=False))
    component.description = _description(source)
    return component


def create_custom_training_job_op_from_component(*args: Any, **kwargs: Any) -> BaseComponent:
    """Deprecated alias of :func:`create_custom_training_job_from_component`, as in GCPC."""
    warnings.warn(
        "'create_custom_training_job_op_from_component' is deprecated. Please use "
        "'create_custom_training_job_from_component' instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    return create_custom_training_job_from_component(*args, **kwargs)


def _defaults() -> dict[str, Any]:
    parameters = inspect.signature(create_custom_training_job_from_component).parameters
    return {name: p.default for name, p in parameters.items() if name != "component_spec"}


class _Kfp:
    """The kfp modules the converter uses, imported on first use."""

    def __init__(self) -> None:
        require("kfp", "converting components")
        import kfp
        from kfp import components, dsl
        from kfp.dsl import base_component, pipeline_task, utils

        self.version = kfp.__version__
        self.components = components
        self.importer = dsl.importer
        self.BaseComponent = base_component.BaseComponent
        self.PipelineTask = pipeline_task.PipelineTask
        self.utils = utils


def _kfp() -> _Kfp:
    return _Kfp()


@dataclass(frozen=True)
class _Source:
    """The component being wrapped, read from its pipeline spec."""

    name: str
    description: str | None
    container: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    @classmethod
    def of(cls, component: Any, kfp: _Kfp) -> _Source:
        from google.protobuf import json_format

        if isinstance(component, kfp.PipelineTask):
            raise ConversionError(
                f"got a task of component {component.component_spec.name!r} (the result of "
                "calling the component in a pipeline); pass the component itself"
            )
        if component is kfp.importer:
            raise ConversionError(
                "dsl.importer cannot be converted: an importer brings an existing artifact "
                "into a pipeline and runs no container of its own"
            )
        if not isinstance(component, kfp.BaseComponent):
            if callable(component):
                raise ConversionError(
                    f"{getattr(component, '__name__', component)!r} is a plain function, not a "
                    "KFP component: decorate it with @dsl.component or @dsl.container_component"
                )
            raise ConversionError(
                f"expected a KFP component, got {type(component).__name__} {component!r}"
            )
        name = component.component_spec.name
        spec = json_format.MessageToDict(component.pipeline_spec)
        executors = spec.get("deploymentSpec", {}).get("executors", {})
        tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
        if component.component_spec.implementation.container is None:
            kinds = sorted({kind for e in executors.values() for kind in e})
            if len(tasks) == 1 and kinds == ["importer"]:
                raise ConversionError(
                    f"{name!r} is an importer: it brings an existing artifact into a "
                    "pipeline and runs no container, so it cannot run as a CustomJob"
                )
            if len(tasks) > 1 or any("dag" in c for c in spec.get("components", {}).values()):
                raise ConversionError(
                    f"{name!r} is a pipeline ({len(tasks)} tasks: {', '.join(tasks)}); convert "
                    "each component that should run as a CustomJob and use the converted "
                    "components in the pipeline"
                )
            if kinds != ["container"]:
                raise ConversionError(
                    f"{name!r} runs a {'/'.join(kinds) or 'missing'} executor, not a "
                    "container; only container and Python components can run as a CustomJob"
                )
            raise ConversionError(
                f"{name!r} is a pipeline of one task; convert its component instead"
            )
        container = next(iter(executors.values()))["container"]
        if is_launcher_container(container):
            raise ConversionError(
                f"{name!r} already runs as a CustomJob (its container is GCPC's launcher); "
                "converting it again would run the launcher inside a CustomJob and lose the "
                "new options. Convert the original component instead"
            )
        interface = next(iter(spec.get("components", {}).values()), spec.get("root", {}))
        return cls(
            name=name,
            description=component.description,
            container=container,
            inputs=interface.get("inputDefinitions", {}),
            outputs=interface.get("outputDefinitions", {}),
        )

    def present(self, name: str) -> bool | None:
        """Whether every task gives input ``name``: None when only a task can tell."""
        for kind in ("parameters", "artifacts"):
            definition = self.inputs.get(kind, {}).get(name)
            if definition is not None:
                if "defaultValue" in definition or not definition.get("isOptional", False):
                    return True
                return None
        return None


def _check_reserved_names(source: _Source) -> None:
    clashes = [
        f"{direction} {kind[:-1]} {name} already exists in the CustomJob component."
        for direction, definitions in (("Input", source.inputs), ("Output", source.outputs))
        for kind in ("parameters", "artifacts")
        for name in definitions.get(kind, {})
        if name in RESERVED_NAMES
    ]
    if clashes:
        raise ConversionError(
            " ".join(clashes)
            + f" Rename it in {source.name!r}: the CustomJob component's own input or output "
            "of that name would otherwise be replaced (GCPC does so silently)."
        )


def _command_line(elements: list[str], source: _Source) -> list[str]:
    try:
        rendered = render_structures(elements, source.present)
    except ConversionError as exc:
        raise ConversionError(f"{source.name!r}: {exc}") from None
    return escape_executor_input(rendered)


def _job_input_values(
    options: Mapping[str, Any], name: str, pools: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every job input's compile-time value (None: optional with no default), as JSON data."""
    values: dict[str, Any] = {}
    for job_input in JOB_INPUTS:
        if job_input.name == "display_name":
            value: Any = options["display_name"] or name
        elif job_input.name == "worker_pool_specs":
            value = pools
        elif job_input.name in options:
            value = options[job_input.name]
        else:
            value = job_input.default
        values[job_input.name] = json.loads(json.dumps(value))
    return values


def _check_quoted_values(values: Mapping[str, Any]) -> None:
    bad = [
        f"{name}={value!r}"
        for name, value in values.items()
        if JOB_INPUTS_BY_NAME[name].quoted and isinstance(value, str) and needs_json_escape(value)
    ]
    if bad:
        raise ConversionError(
            "; ".join(bad) + ": GCPC's launcher puts these values between quotes in its JSON "
            "payload without escaping them, so a quote, backslash or control character "
            "breaks the payload (or changes the value) on Vertex. Leave those characters out."
        )


def _check_job(values: Mapping[str, Any], source: _Source, location: str | None) -> None:
    known: dict[str, Any] = dict(values)
    for name, definition in source.inputs.get("parameters", {}).items():
        known[name] = definition.get("defaultValue", RuntimeValue(f"input {name} of the task"))
    report = check_payload(payload_template(), known, location=location, note_runtime=False)
    if not report.ok:
        raise InvalidJobError(report)
    for problem in report.warnings:
        warnings.warn(f"{problem.field}: {problem.message}", UserWarning, stacklevel=3)


def _pipeline_spec(
    source: _Source, values: Mapping[str, Any], tag: str, kfp: _Kfp
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for job_input in JOB_INPUTS:
        definition: dict[str, Any] = {
            "parameterType": job_input.parameter_type,
            "isOptional": True,
            "description": job_input.description,
        }
        if values[job_input.name] is not None:
            definition["defaultValue"] = values[job_input.name]
        parameters[job_input.name] = definition
    parameters.update(source.inputs.get("parameters", {}))
    inputs: dict[str, Any] = {"parameters": parameters}
    outputs: dict[str, Any] = {
        "parameters": {
            GCP_RESOURCES: {
                "parameterType": "STRING",
                "description": "JSON of the gcp_resources proto naming the CustomJob.",
            },
            **source.outputs.get("parameters", {}),
        }
    }
    for definitions, own in ((inputs, source.inputs), (outputs, source.outputs)):
        if own.get("artifacts"):
            definitions["artifacts"] = own["artifacts"]
    component_key = kfp.utils.sanitize_component_name(source.name)
    executor_key = kfp.utils.sanitize_executor_label(source.name)
    task = kfp.utils.sanitize_task_name(source.name)
    return {
        "pipelineInfo": {"name": source.name},
        "sdkVersion": f"kfp-{kfp.version}",
        "schemaVersion": "2.1.0",
        "components": {
            component_key: {
                "executorLabel": executor_key,
                "inputDefinitions": inputs,
                "outputDefinitions": outputs,
            }
        },
        "deploymentSpec": {"executors": {executor_key: {"container": launcher_container(tag)}}},
        "root": {
            "inputDefinitions": inputs,
            "outputDefinitions": outputs,
            "dag": {
                "tasks": {
                    task: {
                        "taskInfo": {"name": task},
                        "componentRef": {"name": component_key},
                        "cachingOptions": {"enableCache": True},
                        "inputs": _task_inputs(inputs),
                    }
                },
                "outputs": _dag_outputs(outputs, task),
            },
        },
    }


def _task_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    wiring: dict[str, Any] = {
        "parameters": {name: {"componentInputParameter": name} for name in inputs["parameters"]}
    }
    if inputs.get("artifacts"):
        wiring["artifacts"] = {
            name: {"componentInputArtifact": name} for name in inputs["artifacts"]
        }
    return wiring


def _dag_outputs(outputs: Mapping[str, Any], task: str) -> dict[str, Any]:
    selected: dict[str, Any] = {
        "parameters": {
            name: {"valueFromParameter": {"producerSubtask": task, "outputParameterKey": name}}
            for name in outputs["parameters"]
        }
    }
    if outputs.get("artifacts"):
        selected["artifacts"] = {
            name: {"artifactSelectors": [{"producerSubtask": task, "outputArtifactKey": name}]}
            for name in outputs["artifacts"]
        }
    return selected


def _description(source: _Source) -> str:
    text = f"Runs {source.name!r} as a Vertex AI CustomJob (GCPC's CustomJob launcher)."
    if source.description:
        text += f"\n\nOriginal component description:\n{source.description}"
    return text
