"""CPU and memory limits from Vertex machine types, scaled to the host (no engine needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cjob_emu.executor.docker_limits import (
    GB,
    MIN_CPUS,
    MIN_MEMORY_BYTES,
    Resources,
    machine_resources,
    scaled_limits,
)


@pytest.mark.parametrize(
    ("machine_type", "cpus", "gb"),
    [
        ("n1-standard-8", 8, 30),
        ("n1-highmem-2", 2, 13),
        ("n1-highcpu-16", 16, 14.4),
        ("e2-standard-4", 4, 16),
        ("n2-highmem-8", 8, 64),
        ("g2-standard-12", 12, 48),
        ("a2-highgpu-2g", 24, 170),
        ("a2-ultragpu-1g", 12, 170),
        ("a3-highgpu-8g", 208, 1872),
        ("m1-ultramem-40", 40, 961),
    ],
)
def test_machine_types_give_their_vcpus_and_memory(machine_type: str, cpus: int, gb: float):
    assert machine_resources(machine_type) == Resources(cpus, int(gb * GB))


@pytest.mark.parametrize("machine_type", ["", "cloud-tpu", "ct5lp-hightpu-4t", "n1-weird-8", "x"])
def test_unknown_machine_types_give_none(machine_type: str):
    assert machine_resources(machine_type) is None


def test_a_job_that_fits_keeps_its_sizes_and_unknown_ones_get_no_limit():
    small = Resources(2, 4 * GB)
    host = Resources(8, 32 * GB)
    assert scaled_limits([small, None, small], host) == [small, None, small]


def test_a_job_larger_than_the_host_keeps_its_ratios():
    big, small = Resources(8, 30 * GB), Resources(4, 15 * GB)
    limits = scaled_limits([big, small, small], Resources(2, 12 * GB))
    assert [lim.cpus for lim in limits if lim] == [1.0, 0.5, 0.5]
    assert [lim.memory_bytes for lim in limits if lim] == [6 * GB, 3 * GB, 3 * GB]


@given(
    wanted=st.lists(
        st.builds(
            Resources,
            st.integers(1, 416).map(float),
            st.integers(1, 12_000).map(lambda gb: gb * GB),
        ),
        min_size=1,
        max_size=40,
    ),
    host_cpus=st.integers(1, 256),
    host_gb=st.integers(1, 2048),
)
def test_scaled_limits_fit_the_host_unless_floored(
    wanted: list[Resources], host_cpus: int, host_gb: int
):
    host = Resources(float(host_cpus), host_gb * GB)
    limits = [lim for lim in scaled_limits(wanted, host) if lim is not None]
    assert len(limits) == len(wanted)
    for lim, want in zip(limits, wanted, strict=True):
        assert MIN_CPUS <= lim.cpus <= max(MIN_CPUS, min(want.cpus, host.cpus))
        assert MIN_MEMORY_BYTES <= lim.memory_bytes <= max(MIN_MEMORY_BYTES, want.memory_bytes)
    # Rounding to 1/1000 CPU and the floors are the only slack.
    assert sum(lim.cpus for lim in limits) <= host.cpus + len(limits) * (MIN_CPUS + 0.001)
    assert (
        sum(lim.memory_bytes for lim in limits)
        <= host.memory_bytes + len(limits) * MIN_MEMORY_BYTES
    )
