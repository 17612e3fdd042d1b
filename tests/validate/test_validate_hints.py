"""Machine types known size by size, and "did you mean" on names close to known ones."""

from __future__ import annotations

from typing import Any

import pytest
from support.validate_cases import changed, found

from cjob_emu.validate import validate
from cjob_emu.validate.hints import closest, enum_fold, with_hint
from cjob_emu.validate.machines import MACHINE_TYPES, is_known, is_unlisted

MS0 = "job_spec.worker_pool_specs[0].machine_spec"
ENUM = "type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType"


def accelerator(name: Any) -> dict[str, Any]:
    return changed(
        {
            "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType": name,
            "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorCount": 1,
        }
    )


# --- the tables --------------------------------------------------------------------------

# Written out from the Compute Engine general-purpose machine family page.
E2 = {
    *(f"e2-standard-{n}" for n in (2, 4, 8, 16, 32)),
    *(f"e2-highmem-{n}" for n in (2, 4, 8, 16)),
    *(f"e2-highcpu-{n}" for n in (2, 4, 8, 16, 32)),
    "e2-micro",
    "e2-small",
    "e2-medium",
}
C3 = {
    *(
        f"c3-{kind}-{n}"
        for kind in ("standard", "highcpu", "highmem")
        for n in (4, 8, 22, 44, 88, 176)
    ),
    "c3-standard-192-metal",
    "c3-highcpu-192-metal",
    "c3-highmem-192-metal",
    *(f"c3-standard-{n}-lssd" for n in (4, 8, 22, 44, 88, 176)),
}


def test_families_are_listed_as_the_docs_list_them() -> None:
    assert MACHINE_TYPES["e2"] == E2
    assert MACHINE_TYPES["c3"] == C3
    assert MACHINE_TYPES["c2"] == {f"c2-standard-{n}" for n in (4, 8, 16, 30, 60)}
    assert MACHINE_TYPES["m3"] == {
        "m3-megamem-64",
        "m3-megamem-128",
        "m3-ultramem-32",
        "m3-ultramem-64",
        "m3-ultramem-128",
    }
    assert "n2-highcpu-128" not in MACHINE_TYPES["n2"]
    assert "n2d-highcpu-224" in MACHINE_TYPES["n2d"]
    assert "c4-highmem-288-lssd-metal" in MACHINE_TYPES["c4"]
    assert "t2d-standard-60" in MACHINE_TYPES["t2d"]
    for family in ("n1", "n2", "n2d", "e2", "c2", "c2d", "c3", "c3d", "c4", "n4", "m1", "m2"):
        assert family in MACHINE_TYPES


def test_every_listed_machine_type_is_valid() -> None:
    for names in MACHINE_TYPES.values():
        for name in names:
            assert is_known(name) and not is_unlisted(name)
            problems = found(
                validate(changed({"jobSpec.workerPoolSpecs[0].machineSpec.machineType": name}))
            )
            assert [p for p in problems if p[1] == f"{MS0}.machine_type"] == [], name


@pytest.mark.parametrize(
    "name", ["n2-custom-8-32768", "e2-custom-4-8192", "n2d-custom-2-4096-ext", "custom-4-16384"]
)
def test_custom_machine_types_are_judged_by_family_only(name: str) -> None:
    assert not is_unlisted(name)
    report = validate(changed({"jobSpec.workerPoolSpecs[0].machineSpec.machineType": name}))
    assert report.ok


# --- did you mean ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("NVIDIA_TESLA_T5", "NVIDIA_TESLA_T4"),
        ("nvidia-tesla-t4", "NVIDIA_TESLA_T4"),
        ("NVIDIA_L4X", "NVIDIA_L4"),
        ("nvidia h100 80gb", "NVIDIA_H100_80GB"),
    ],
)
def test_accelerator_type_error_names_the_close_one(name: str, hint: str) -> None:
    (problem,) = validate(accelerator(name)).errors
    assert problem.field == f"{MS0}.accelerator_type"
    assert problem.message.startswith(
        f"Invalid value at 'custom_job.{MS0}.accelerator_type' ({ENUM}), \"{name}\": "
        "expected one of ACCELERATOR_TYPE_UNSPECIFIED, NVIDIA_TESLA_K80,"
    )
    assert problem.message.endswith(f"NVIDIA_RTX_PRO_6000; did you mean {hint}?")


@pytest.mark.parametrize("name", ["NVIDIA_TESLA_X", "TPU", "GPU", 99])
def test_no_hint_when_nothing_or_several_are_as_close(name: Any) -> None:
    (problem,) = validate(accelerator(name)).errors
    assert "did you mean" not in problem.message
    assert problem.message.endswith("NVIDIA_RTX_PRO_6000.")


@pytest.mark.parametrize(
    ("value", "choices", "expected"),
    [
        ("n2-standrd-8", ["n2-standard-8", "n2-standard-80", "n2-highmem-8"], "n2-standard-8"),
        ("N2-STANDARD-8", ["n2-standard-8"], "n2-standard-8"),
        ("us-centrl1", ["us-central1", "us-east1", "europe-central2"], "us-central1"),
        ("c3-standard-9", ["c3-standard-4", "c3-standard-8"], None),  # a tie
        ("moon-central1", ["us-central1", "me-central1"], None),  # not close enough
        ("anything", [], None),
    ],
)
def test_closest(value: str, choices: list[str], expected: str | None) -> None:
    assert closest(value, choices) == expected


def test_enum_fold_and_with_hint() -> None:
    assert closest("nvidia-tesla-t4", ["NVIDIA_TESLA_T4", "NVIDIA_L4"], fold=enum_fold) == (
        "NVIDIA_TESLA_T4"
    )
    assert with_hint('Machine type "x" is not supported.', "y") == (
        'Machine type "x" is not supported; did you mean y?'
    )
    assert with_hint("Unchanged.", None) == "Unchanged."
