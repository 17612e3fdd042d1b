"""Differential tests: ours and GCPC 2.22's converter, compiled side by side by kfp.

Each case wraps a component with both converters, puts the result in the same
pipeline, compiles both with ``kfp.compiler.Compiler`` and compares the parsed
pipeline specs, the launcher's payload parsed as JSON. Equal, except for the
defect fixes asserted one by one at the end.

No ``from __future__ import annotations``: KFP reads pipeline functions' annotations as types.
"""

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from google_cloud_pipeline_components.v1.custom_job import utils as gcpc_utils
from kfp import compiler, dsl
from support import convert_components as cc

from cjob_emu.converter import (
    create_custom_training_job_from_component,
    create_custom_training_job_op_from_component,
)
from cjob_emu.launcher.contract import is_launcher_container, launcher_arg

Converter = Callable[..., Any]
OURS: Converter = create_custom_training_job_from_component
GCPC: Converter = gcpc_utils.create_custom_training_job_from_component

EVERY_OPTION: dict[str, Any] = {
    "display_name": "every-option",
    "replica_count": 4,
    "machine_type": "n1-standard-8",
    "accelerator_type": "NVIDIA_TESLA_T4",
    "accelerator_count": 2,
    "boot_disk_type": "pd-standard",
    "boot_disk_size_gb": 200,
    "timeout": "3600s",
    "restart_job_on_worker_restart": True,
    "service_account": "trainer@proj.iam.gserviceaccount.com",
    "network": "projects/123/global/networks/vpc",
    "encryption_spec_key_name": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
    "tensorboard": "projects/123/locations/us-central1/tensorboards/456",
    "enable_web_access": True,
    "reserved_ip_ranges": ["range-a", "range-b"],
    "nfs_mounts": [{"server": "10.0.0.2", "path": "/share", "mount_point": "data"}],
    "base_output_directory": "gs://bucket/out",
    "labels": {"team": "ml", "env": "test"},
    "persistent_resource_id": "my-persistent",
    "env": [{"name": "MODE", "value": "fast"}, {"name": "SEED", "value": "7"}],
    "strategy": "SPOT",
    "max_wait_duration": "1800s",
    "reservation_affinity_type": "SPECIFIC_RESERVATION",
    "reservation_affinity_key": "compute.googleapis.com/reservation-name",
    "reservation_affinity_values": ["projects/p/zones/us-central1-a/reservations/r"],
}


PEERING = ("network", "nfs_mounts", "reserved_ip_ranges")


@dataclass
class Case:
    """One component, converter options, and the pipeline its converted form goes into."""

    id: str
    component: Callable[[], Any]
    options: dict[str, Any] = field(default_factory=dict)
    pipeline: Callable[[Any], Any] = lambda converted: _alone(converted)


def _alone(converted: Any, **arguments: Any) -> Any:
    @dsl.pipeline(name="parity")
    def pipeline() -> None:
        converted(**arguments)

    return pipeline


def _with_args(**arguments: Any) -> Callable[[Any], Any]:
    return lambda converted: _alone(converted, **arguments)


def _python_pipeline(converted: Any) -> Any:
    @dsl.pipeline(name="parity-python")
    def pipeline(rows: int = 10, epochs: int = 3) -> None:
        data = cc.make_data(rows=rows)
        trained = converted(data=data.outputs["data"], epochs=epochs)
        cc.evaluate(model=trained.outputs["model"])

    return pipeline


def _importer_pipeline(converted: Any) -> Any:
    @dsl.pipeline(name="parity-importer")
    def pipeline() -> None:
        imported = dsl.importer(artifact_uri="gs://bucket/data.csv", artifact_class=dsl.Dataset)
        converted(data=imported.output, note="from-importer")

    return pipeline


def _overrides(converted: Any) -> Any:
    @dsl.pipeline(name="parity-overrides")
    def pipeline(
        sa: str = "other@proj.iam.gserviceaccount.com", timeout: str = "60s", lr: float = 0.5
    ) -> None:
        first = converted(
            lr=lr,
            epochs=4,
            display_name="overridden",
            timeout=timeout,
            service_account=sa,
            project="other-project",
            location="europe-west4",
            labels={"run": "x"},
            restart_job_on_worker_restart=True,
            worker_pool_specs=[{"machine_spec": {"machine_type": "n1-standard-16"}}],
            enable_web_access=True,
            strategy="FLEX_START",
            max_wait_duration="600s",
        )
        converted(lr=lr, epochs=1, display_name=first.outputs["out"]).after(first)

    return pipeline


def _nested(converted: Any) -> Any:
    @dsl.pipeline(name="parity-nested")
    def pipeline(go: bool = True, lr: float = 0.1) -> None:
        with dsl.If(go == True):  # noqa: E712 - a KFP condition, not a Python comparison
            converted(lr=lr, epochs=2)
        with dsl.ParallelFor([1, 2, 3]) as epochs:
            converted(lr=lr, epochs=epochs)

    return pipeline


def _two_conversions(converted: Any) -> Any:
    @dsl.pipeline(name="parity-two")
    def pipeline(text: str = "hello") -> None:
        written = converted(text=text)
        converted(text=written.outputs["out"])

    return pipeline


CASES = [
    Case("container-defaults", lambda: cc.train_container, {}, _with_args(lr=0.1, epochs=3)),
    Case(
        "container-replicas-3",
        lambda: cc.train_container,
        {"replica_count": 3},
        _with_args(lr=0.1, epochs=3),
    ),
    Case(
        "container-every-option-but-network-psc",
        lambda: cc.train_container,
        # nfs_mounts and reserved_ip_ranges need a network; a PSC interface replaces it.
        {k: v for k, v in EVERY_OPTION.items() if k not in PEERING}
        | {
            "psc_interface_config": {
                "network_attachment": "projects/p/regions/r/networkAttachments/a"
            }
        },
        _with_args(lr=0.1, epochs=3),
    ),
    Case(
        "container-every-option",
        lambda: cc.train_container,
        EVERY_OPTION,
        _with_args(lr=1.0, epochs=1),
    ),
    Case(
        "container-gpu-one-replica",
        lambda: cc.train_container,
        {
            "replica_count": 1,
            "machine_type": "a2-highgpu-1g",
            "accelerator_type": "NVIDIA_TESLA_A100",
        },
        _with_args(lr=0.1, epochs=3),
    ),
    Case(
        "container-no-boot-disk",
        lambda: cc.train_container,
        {"boot_disk_type": "", "replica_count": 2},
        _with_args(lr=0.1, epochs=3),
    ),
    Case(
        "container-any-reservation",
        lambda: cc.train_container,
        {"reservation_affinity_type": "ANY_RESERVATION", "labels": None},
        _with_args(lr=0.1, epochs=3),
    ),
    Case(
        "container-flex-start",
        lambda: cc.train_container,
        {"strategy": "FLEX_START", "max_wait_duration": "7200s", "display_name": "flex"},
        _with_args(lr=0.1, epochs=3),
    ),
    Case("container-task-overrides", lambda: cc.train_container, {"replica_count": 2}, _overrides),
    Case("container-in-condition-and-loop", lambda: cc.train_container, {}, _nested),
    Case(
        "artifacts-and-output-path-importer", lambda: cc.artifact_container, {}, _importer_pipeline
    ),
    Case(
        "artifacts-replicas-5",
        lambda: cc.artifact_container,
        {"replica_count": 5, "env": [{"name": "A", "value": "1"}]},
        _importer_pipeline,
    ),
    Case("python-component-defaults", lambda: cc.train_python, {}, _python_pipeline),
    Case(
        "python-component-replicas-gpu",
        lambda: cc.train_python,
        {
            "replica_count": 3,
            "accelerator_type": "NVIDIA_TESLA_T4",
            "machine_type": "n1-standard-8",
        },
        _python_pipeline,
    ),
    Case("python-output-path", lambda: cc.write_path, {"replica_count": 2}, _two_conversions),
    Case("v1-yaml-component", cc.v1_component, {"replica_count": 2}, _with_args(message="hi")),
    Case("compiled-yaml-component", cc.compiled_component, {}, _with_args(lr=0.3, epochs=9)),
]


def compile_spec(pipeline: Any, path: Path) -> dict[str, Any]:
    """A compiled pipeline as data, each launcher payload parsed from its JSON text."""
    compiler.Compiler().compile(pipeline, str(path))
    spec = yaml.safe_load(path.read_text())
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor.get("container")
        if container and is_launcher_container(container):
            args = container["args"]
            i = args.index("--payload")
            args[i + 1] = parse_payload(args[i + 1])
    return spec


def parse_payload(text: str) -> Any:
    """The payload as JSON data, its bare placeholders (non-string inputs) quoted first."""
    quoted = re.sub(r'(?<!")(\{\{\$\.inputs\.parameters\[\'[^\']+\'\]\}\})', r'"@\1"', text)
    return json.loads(quoted)


def both(case: Case, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    ours = compile_spec(case.pipeline(OURS(case.component(), **case.options)), tmp_path / "o.yaml")
    gcpc = compile_spec(case.pipeline(GCPC(case.component(), **case.options)), tmp_path / "g.yaml")
    return ours, gcpc


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_compiles_to_the_same_pipeline_spec_as_gcpc(case: Case, tmp_path: Path) -> None:
    ours, gcpc = both(case, tmp_path)
    assert ours == gcpc


def test_there_are_at_least_fifteen_cases() -> None:
    assert len(CASES) >= 15


def test_every_gcpc_option_is_exercised_and_has_gcpc_default() -> None:
    import inspect

    theirs = inspect.signature(GCPC).parameters
    ours = inspect.signature(OURS).parameters
    gcpc_options = [name for name in theirs if name != "component_spec"]
    assert set(EVERY_OPTION) | {"psc_interface_config"} == set(gcpc_options)
    assert list(ours)[: len(theirs)] == list(theirs)
    for name in gcpc_options:
        assert ours[name].default == theirs[name].default, name
        assert ours[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_payload_is_gcpc_text_exactly(tmp_path: Path) -> None:
    """Beyond the parsed comparison: the launcher arguments are the same strings."""
    ours = yaml.safe_load(_compiled_text(OURS, tmp_path / "o.yaml"))
    gcpc = yaml.safe_load(_compiled_text(GCPC, tmp_path / "g.yaml"))
    (o,) = ours["deploymentSpec"]["executors"].values()
    (g,) = gcpc["deploymentSpec"]["executors"].values()
    assert o["container"] == g["container"]
    assert launcher_arg(o["container"]["args"], "--type") == "CustomJob"


def _compiled_text(converter: Converter, path: Path) -> str:
    compiler.Compiler().compile(_alone(converter(cc.train_container), lr=1.0, epochs=1), str(path))
    return path.read_text()


def test_deprecated_alias_warns_and_converts_the_same(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="create_custom_training_job_from_component"):
        alias = create_custom_training_job_op_from_component(cc.train_container, replica_count=2)
    direct = OURS(cc.train_container, replica_count=2)
    a = compile_spec(_alone(alias, lr=0.1, epochs=1), tmp_path / "a.yaml")
    d = compile_spec(_alone(direct, lr=0.1, epochs=1), tmp_path / "d.yaml")
    assert a == d


# The allowed differences: each a defect fix, asserted exactly.


def _pool_default(spec: dict[str, Any], component: str) -> list[dict[str, Any]]:
    params = spec["components"][component]["inputDefinitions"]["parameters"]
    pools: list[dict[str, Any]] = params["worker_pool_specs"]["defaultValue"]
    return pools


def test_only_difference_for_concat_and_if_present_is_their_rendering(tmp_path: Path) -> None:
    case = Case(
        "structured", lambda: cc.structured_container, {"replica_count": 2}, _with_args(name="n")
    )
    ours, gcpc = both(case, tmp_path)
    gcpc_pools = _pool_default(gcpc, "comp-structured-container")
    # GCPC passes the structures to the container as JSON text (kubeflow/pipelines#12498).
    assert gcpc_pools[0]["container_spec"]["command"][2].startswith('{"Concat": ')
    assert gcpc_pools[0]["container_spec"]["args"][1].startswith('{"IfPresent": ')
    expected = copy.deepcopy(gcpc)
    name = "{{$.inputs.parameters['name']}}"
    tag = "{{$.inputs.parameters['tag']}}"
    for pool in _pool_default(expected, "comp-structured-container"):
        pool["container_spec"]["command"] = ["sh", "-c", f"echo {name} && exec python -m t"]
        # tag has a default, name is required: both are always present.
        pool["container_spec"]["args"] = [f"--name={name}-{tag}", "--tag", tag, f"--n={name}"]
    assert ours == expected


def test_only_difference_for_embedded_executor_input_is_its_escaping(tmp_path: Path) -> None:
    @dsl.container_component
    def embedded() -> dsl.ContainerSpec:
        return dsl.ContainerSpec(
            image=cc.IMAGE,
            command=["python", "-m", "runner"],
            args=[dsl.ConcatPlaceholder(["--executor_input=", "{{$}}"]), "{{$}}"],
        )

    case = Case("embedded", lambda: embedded)
    ours, gcpc = both(case, tmp_path)
    expected = copy.deepcopy(gcpc)
    (pool,) = _pool_default(expected, "comp-embedded")
    assert pool["container_spec"]["args"][1] == "{{$.json_escape[1]}}"
    pool["container_spec"]["args"][0] = "--executor_input={{$.json_escape[1]}}"
    assert ours == expected
