"""The ``convert`` command's arguments and handler (cjob_emu.cli.convert).

No ``from __future__ import annotations``: KFP reads pipeline functions' annotations as types.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import components, dsl
from support import convert_components as cc
from support.convert_helpers import compile_pipeline, default_pools

from cjob_emu.cli.convert import add_convert_arguments
from cjob_emu.cli.convert import run as cmd_convert
from cjob_emu.converter import create_custom_training_job_from_component as convert
from cjob_emu.errors import ConversionError, InputError, InvalidJobError

COMPONENT = str(cc.FIXTURES / "train_container.yaml")


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cjob-emu convert")
    add_convert_arguments(parser)
    args = parser.parse_args(list(argv))
    code: int = cmd_convert(args)
    return code


def _in_pipeline(component: Any, path: Path) -> dict[str, Any]:
    @dsl.pipeline(name="cli")
    def pipeline() -> None:
        component(lr=0.1, epochs=2)

    return compile_pipeline(pipeline, path)


def test_defaults_give_the_python_api_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.yaml"
    assert run(COMPONENT, "-o", str(out)) == 0
    assert f"wrote {out}: 'train-container' runs as a Vertex CustomJob" in capsys.readouterr().out
    loaded = components.load_component_from_file(str(out))
    api = convert(components.load_component_from_file(COMPONENT))
    assert _in_pipeline(loaded, tmp_path / "a.yaml") == _in_pipeline(api, tmp_path / "b.yaml")


EVERY_FLAG = [
    "--display-name=nightly",
    "--replica-count=3",
    "--machine-type=n1-standard-8",
    "--accelerator-type=NVIDIA_TESLA_T4",
    "--accelerator-count=2",
    "--boot-disk-type=pd-standard",
    "--boot-disk-size-gb=300",
    "--timeout=3600s",
    "--restart-job-on-worker-restart",
    "--service-account=sa@p.iam.gserviceaccount.com",
    "--network=projects/1/global/networks/vpc",
    "--encryption-spec-key-name=projects/p/locations/l/keyRings/r/cryptoKeys/k",
    "--tensorboard=projects/1/locations/us-central1/tensorboards/2",
    "--enable-web-access",
    "--reserved-ip-range=r1",
    "--reserved-ip-range=r2",
    "--nfs-mount=10.0.0.2:/share:data",
    "--base-output-directory=gs://b/out",
    "--label=team=ml",
    "--label=env=dev",
    "--persistent-resource-id=pr",
    "--env=MODE=fast",
    "--env=EMPTY=",
    "--strategy=SPOT",
    "--max-wait-duration=60s",
    "--reservation-affinity-type=SPECIFIC_RESERVATION",
    "--reservation-affinity-key=compute.googleapis.com/reservation-name",
    "--reservation-affinity-value=projects/p/zones/z/reservations/r",
    "--launcher-image-tag=2.21.0",
]


def test_every_gcpc_option_from_flags(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    # The launcher drops an empty value, so the validator's warning about EMPTY shows.
    with pytest.warns(UserWarning, match=r"env\[1\]\.value: Required field is empty"):
        code = run(COMPONENT, "-o", str(out), *EVERY_FLAG)
    assert code == 0
    spec = yaml.safe_load(out.read_text())
    (definition,) = spec["components"].values()
    params = definition["inputDefinitions"]["parameters"]
    assert params["display_name"]["defaultValue"] == "nightly"
    assert params["labels"]["defaultValue"] == {"team": "ml", "env": "dev"}
    assert params["reserved_ip_ranges"]["defaultValue"] == ["r1", "r2"]
    assert params["restart_job_on_worker_restart"]["defaultValue"] is True
    chief, workers = params["worker_pool_specs"]["defaultValue"]
    assert workers["replica_count"] == 2
    assert chief["container_spec"]["env"] == [
        {"name": "MODE", "value": "fast"},
        {"name": "EMPTY", "value": ""},
    ]
    assert chief["nfs_mounts"] == [{"server": "10.0.0.2", "path": "/share", "mount_point": "data"}]
    assert chief["machine_spec"]["reservation_affinity"]["values"] == [
        "projects/p/zones/z/reservations/r"
    ]
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["image"].endswith(":2.21.0")


def test_pools_file_and_python_package(tmp_path: Path) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(
        yaml.safe_dump(
            {
                "chief": {"machine_spec": {"machine_type": "n1-highmem-8"}, "replica_count": 1},
                "workers": {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": 2},
            }
        )
    )
    out = tmp_path / "out.yaml"
    assert run(COMPONENT, "-o", str(out), "--worker-pool-specs", str(pools)) == 0
    spec = _in_pipeline(components.load_component_from_file(str(out)), tmp_path / "p.yaml")
    assert [p["replica_count"] for p in default_pools(spec, "train-container")] == [1.0, 2.0]

    code = run(
        COMPONENT,
        "-o",
        str(out),
        "--executor-image-uri=us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-15.py310:latest",
        "--package-uri=gs://b/trainer.tar.gz",
        "--python-module=trainer.task",
    )
    assert code == 0
    spec = _in_pipeline(components.load_component_from_file(str(out)), tmp_path / "q.yaml")
    (pool,) = default_pools(spec, "train-container")
    assert pool["python_package_spec"]["python_module"] == "trainer.task"


@pytest.mark.parametrize(
    ("argv", "error", "message"),
    [
        (["missing.yaml"], InputError, r"missing\.yaml: no such file"),
        (["--label=novalue"], InputError, r"--label 'novalue': expected NAME=VALUE"),
        (["--nfs-mount=a:b"], InputError, r"expected SERVER:PATH:MOUNT_POINT"),
        (["--psc-interface-config=[1]"], InputError, r"expected a JSON object"),
        (["--python-module=t"], InputError, r"missing --executor-image-uri, --package-uri"),
        (["--replica-count=0"], ConversionError, r"replica_count must be at least 1"),
        (["--accelerator-type=NVIDIA_TESLA_A100"], InvalidJobError, r"not supported"),
        (['--display-name=a"b'], ConversionError, r"display_name='a\"b'"),
    ],
)
def test_problems_are_reported_with_our_errors(
    tmp_path: Path, argv: list[str], error: type[Exception], message: str
) -> None:
    component = argv[0] if argv[0].endswith(".yaml") else COMPONENT
    rest = argv[1:] if argv[0].endswith(".yaml") else argv
    with pytest.raises(error, match=message):
        run(component, "-o", str(tmp_path / "out.yaml"), *rest)


def test_not_a_component_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"displayName": "a job, not a component"}))
    with pytest.raises(InputError, match=r"bad\.yaml: not a KFP component"):
        run(str(bad), "-o", str(tmp_path / "out.yaml"))


def test_output_is_required() -> None:
    parser = argparse.ArgumentParser()
    add_convert_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([COMPONENT])
