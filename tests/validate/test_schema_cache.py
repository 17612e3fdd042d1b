"""The schema cache: the aiplatform types' catalog kept on disk per installed version.

In process: where the cache lives, when it is written, read, rebuilt or left alone,
and that the catalog read back holds what the types say. In child processes (the
way a CI step runs ``cjob-emu validate``): a warm cache loads no aiplatform module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform_v1.types.custom_job import CustomJob
from support.paths import FIXTURES, ROOT

from cjob_emu.validate import cache
from cjob_emu.validate.catalog import Catalog
from cjob_emu.validate.from_types import installed_catalog

VERSION = aiplatform.__version__


@pytest.fixture(name="cache_dir")
def cache_dir_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    return tmp_path


def fresh() -> Catalog:
    """What a new process would load (``catalog()`` keeps one per process)."""
    return cache.catalog.__wrapped__()


def shape(catalog: Catalog) -> dict[str, object]:
    """Everything a catalog tells the rules, in comparable form."""
    enums = {
        name: [(member.name, int(member)) for member in catalog.enum(name)]
        for name in ("AcceleratorType", "ReservationAffinity.Type", "Scheduling.Strategy")
    }
    return {
        "file": catalog.job_class.DESCRIPTOR.file.serialized_pb,
        "enums": enums,
        "documented": dict(catalog.documented),
        "deprecated": dict(catalog.deprecated),
        "regions": catalog.regions(),
    }


def test_the_cache_is_keyed_by_the_installed_aiplatform_version() -> None:
    assert cache.installed_version() == VERSION
    assert cache.cache_file(VERSION).name == f"aiplatform-{VERSION}.schema-v{cache.FORMAT}.json"


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, "/somewhere/else")
    assert cache.cache_dir() == Path("/somewhere/else")
    monkeypatch.delenv(cache.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache.cache_dir() == Path("/xdg/cjob-emu")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert cache.cache_dir() == Path("/home/someone/.cache/cjob-emu")


def test_the_catalog_read_back_holds_what_the_types_say() -> None:
    types = installed_catalog()
    assert types.job_class is CustomJob.pb()
    cached = Catalog.from_data(json.loads(json.dumps(types.to_data())))
    assert shape(cached) == shape(types)
    assert cached.job_class is not types.job_class  # a pool of its own
    assert "google.cloud.aiplatform.v1.CustomJob" in cached.documented
    assert cached.enum("AcceleratorType").NVIDIA_TESLA_K80 in cached.deprecated_values(
        "AcceleratorType"
    )


def test_first_use_writes_the_cache_and_later_ones_read_it(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fresh()
    path = cache.cache_file(VERSION)
    assert path.parent == cache_dir
    data = json.loads(path.read_text())
    assert (data["format"], data["aiplatform"]) == (cache.FORMAT, VERSION)

    def no_types() -> Catalog:
        raise AssertionError("the types were read although the cache is warm")

    monkeypatch.setattr(cache, "_types_catalog", no_types)
    assert shape(fresh()) == shape(built) == shape(installed_catalog())


def test_another_aiplatform_version_gets_a_cache_of_its_own(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh()
    before = cache.cache_file(VERSION).read_text()
    monkeypatch.setattr(cache, "installed_version", lambda: "9.9.9")
    fresh()
    assert json.loads(cache.cache_file("9.9.9").read_text())["aiplatform"] == "9.9.9"
    assert cache.cache_file(VERSION).read_text() == before
    assert len(list(cache_dir.iterdir())) == 2


def damaged(**changes: object) -> str:
    """The cache file's text with ``changes`` to its data."""
    data = {"format": cache.FORMAT, "aiplatform": VERSION, **installed_catalog().to_data()}
    return json.dumps({**data, **changes})


@pytest.mark.parametrize(
    "damage",
    [
        "",
        "{not json",
        "[]",
        damaged(format=cache.FORMAT + 1),
        damaged(aiplatform="0.0.1"),
        damaged(files=["bm90IGEgcHJvdG8="]),
        damaged(documented=None),
    ],
    ids=["empty", "not JSON", "not an object", "other format", "other version", "bad proto",
         "no facts"],
)
def test_a_damaged_cache_is_rebuilt(cache_dir: Path, damage: str) -> None:
    path = cache.cache_file(VERSION)
    path.write_text(damage)
    assert shape(fresh()) == shape(installed_catalog())
    assert json.loads(path.read_text())["aiplatform"] == VERSION


def test_a_cache_that_cannot_be_written_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(blocker / "cache"))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    assert shape(fresh()) == shape(installed_catalog())


def test_no_cache_reads_the_types_and_writes_nothing(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    assert fresh().job_class is CustomJob.pb()
    assert list(cache_dir.iterdir()) == []


# -- child processes ------------------------------------------------------------------------

JOB_FILES = sorted(str(p) for d in ("jobs", "invalid") for p in (FIXTURES / d).glob("*.*"))
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| ( *)(\S+)$", re.MULTILINE)


def run_validate(cache_dir: Path, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``cjob-emu validate --json`` over every fixture job file in a new process."""
    return subprocess.run(
        [sys.executable, *options, "-m", "cjob_emu.cli", "validate", "--json", *JOB_FILES],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != cache.NO_CACHE_ENV},
            "PYTHONPATH": str(ROOT),
            cache.CACHE_DIR_ENV: str(cache_dir),
            **env,
        },
    )


def test_a_warm_cache_validates_job_files_without_aiplatform(tmp_path: Path) -> None:
    cold = run_validate(tmp_path, "-X", "importtime")
    assert "google.cloud.aiplatform_v1" in {m for _, m in IMPORTED.findall(cold.stderr)}
    assert cache.cache_file(VERSION).name in {p.name for p in tmp_path.iterdir()}

    warm = run_validate(tmp_path, "-X", "importtime")
    modules = {m for _, m in IMPORTED.findall(warm.stderr)}
    assert "cjob_emu.validate.rules" in modules
    loaded = sorted(
        m
        for m in modules
        if m.startswith(("google.cloud.aiplatform", "proto.", "google.rpc", "google.api."))
        or m == "proto"
        or (m.endswith("_pb2") and m != "google.protobuf.descriptor_pb2")
    )
    assert loaded == []  # descriptor_pb2 is protobuf's own: reading a descriptor's options
    assert warm.stdout == cold.stdout
    assert warm.returncode == cold.returncode != 0  # fixtures/invalid


def test_the_command_reports_alike_with_the_cache_and_without(tmp_path: Path) -> None:
    without = run_validate(tmp_path, **{cache.NO_CACHE_ENV: "1"})
    assert list(tmp_path.iterdir()) == []
    run_validate(tmp_path)
    warm = run_validate(tmp_path)
    assert warm.stdout == without.stdout
    assert warm.stderr == without.stderr
    assert len(warm.stdout.splitlines()) == len(JOB_FILES)
