"""Property tests of the validator and the spec loader over generated input.

Text and bytes of any shape (truncated jobs, deep nesting, huge strings, non-UTF-8) and
valid jobs with one value replaced by a value of the wrong type or out of range. The
validator always answers a sound report (never its last-resort "could not be read"); the
loader answers a job or raises InputError / InvalidJobError naming the source or the
field. Each test prints how many cases it ran (see tests/support/fuzz_support.py); together they
run over 10,000.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from support.fuzz_support import FuzzCases, fuzz_cases_fixture  # noqa: F401  (the fixture)
from support.job_strategies import (
    JSON,
    SHAPED,
    Path_,
    assert_sound,
    field_name,
    get,
    leaves_and_nodes,
    replaced,
    valid_jobs,
    wrong_types,
)

from cjob_emu.errors import InputError, InvalidJobError
from cjob_emu.spec import job_to_rest, load_job, parse_job_text, read_job_document
from cjob_emu.validate import validate


def check_loader_names(job: dict[str, Any], field: str) -> None:
    """load_job refuses ``job`` with InvalidJobError naming ``field``."""
    with pytest.raises(InvalidJobError) as caught:
        load_job(job)
    assert f"Field: {field};" in str(caught.value)


# -- the tests ---------------------------------------------------------------------------

TEXTS = (
    st.text()
    | JSON.map(json.dumps)
    | SHAPED.map(lambda v: yaml.safe_dump(v, allow_unicode=True))
    | st.binary().map(lambda b: b.decode("latin-1"))
)


def test_any_text_parses_to_a_mapping_or_an_input_error(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(2150)
    @given(TEXTS)
    def prop(text: str) -> None:
        fuzz_cases.tick()
        try:
            doc = parse_job_text(text, source="job.yaml")
        except InputError as exc:
            assert str(exc).startswith("job.yaml: "), exc
            assert "\n" not in str(exc)
            return
        assert isinstance(doc, dict)
        assert_sound(validate(doc))

    prop()
    fuzz_cases.expect()


def test_truncated_jobs_parse_or_fail_cleanly(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(1300)
    @given(valid_jobs(), st.booleans(), st.floats(0, 1))
    def prop(job: dict[str, Any], as_yaml: bool, cut: float) -> None:
        fuzz_cases.tick()
        text = yaml.safe_dump(job, allow_unicode=True) if as_yaml else json.dumps(job)
        text = text[: int(len(text) * cut)]
        try:
            doc = parse_job_text(text, source="cut.json")
        except InputError as exc:
            assert str(exc).startswith("cut.json: ")
            return
        assert_sound(validate(doc))
        try:
            load_job(doc)
        except InvalidJobError as exc:
            assert str(exc).startswith("List of found errors:\t1.Field: ")

    prop()
    fuzz_cases.expect()


def test_any_bytes_in_a_file_read_to_a_mapping_or_an_input_error(fuzz_cases: FuzzCases) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"

        @fuzz_cases.settings(300)
        @given(st.binary(max_size=200) | TEXTS.map(lambda t: t.encode("utf-8", "surrogatepass")))
        def prop(data: bytes) -> None:
            fuzz_cases.tick()
            path.write_bytes(data)
            try:
                doc = read_job_document(path)
            except InputError as exc:
                assert str(exc).startswith(f"{path}: "), exc
                return
            assert isinstance(doc, dict)

        prop()
    fuzz_cases.expect()


def test_generated_valid_jobs_validate_and_load_intact(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(1000)
    @given(valid_jobs())
    def prop(job: dict[str, Any]) -> None:
        fuzz_cases.tick()
        report = validate(job, location="us-central1")
        assert report.ok, report.vertex_message()
        rest = job_to_rest(load_job(job))
        assert rest["displayName"] == job["displayName"]
        assert rest.get("labels", {}) == job.get("labels", {})
        for got, sent in zip(rest["jobSpec"]["workerPoolSpecs"], job["jobSpec"]["workerPoolSpecs"],
                             strict=True):
            task = "containerSpec" if "containerSpec" in sent else "pythonPackageSpec"
            assert got[task].get("args", []) == sent[task]["args"]
            env = [{"value": "", **e} for e in got[task].get("env", [])]  # proto3 drops ""
            assert env == sent[task].get("env", [])
            assert got[task].get("command", []) == sent[task].get("command", [])

    prop()
    fuzz_cases.expect()


def test_a_wrong_type_at_any_field_is_an_error_naming_that_field(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(3600)
    @given(valid_jobs(), st.data())
    def prop(job: dict[str, Any], data: st.DataObject) -> None:
        fuzz_cases.tick()
        path = data.draw(st.sampled_from(leaves_and_nodes(job)))
        value = data.draw(wrong_types(get(job, path), path[-1]))
        bad = replaced(job, path, value)
        field = field_name(path)
        report = validate(bad)
        assert_sound(report)
        assert field in [p.field for p in report.errors], (field, report.vertex_message())
        check_loader_names(bad, field)

    prop()
    fuzz_cases.expect()


OUT_OF_RANGE = {
    "replicaCount": [-1, "-5", str(2**63)],
    "bootDiskSizeGb": [-1, 10**9, 2**31],
    "acceleratorCount": [-1, 10**4, 2**31],
    "acceleratorType": ["NOT_A_GPU", 999, -1],
    "machineType": ["", "not-a-machine", "x" * 300],
    "bootDiskType": ["pd-nonsense"],
    "timeout": ["-1s", "1e400s", "10000000000000s", "5", "s"],
    "outputUriPrefix": ["/local/path", "s3://b/x", "gs://"],
    "imageUri": [""],
    "pythonModule": [""],
}


def test_an_out_of_range_value_is_an_error_near_that_field(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(1200)
    @given(valid_jobs(), st.data())
    def prop(job: dict[str, Any], data: st.DataObject) -> None:
        fuzz_cases.tick()
        key = data.draw(st.sampled_from(sorted(OUT_OF_RANGE)))
        spec = job["jobSpec"]
        index = data.draw(st.integers(0, len(spec["workerPoolSpecs"]) - 1))
        pool = spec["workerPoolSpecs"][index]
        task = "containerSpec" if "containerSpec" in pool else "pythonPackageSpec"
        parents: dict[str, Path_] = {
            "replicaCount": (),
            "bootDiskSizeGb": ("diskSpec",),
            "bootDiskType": ("diskSpec",),
            "acceleratorCount": ("machineSpec",),
            "acceleratorType": ("machineSpec",),
            "machineType": ("machineSpec",),
            "imageUri": (task,),
            "pythonModule": (task,),
        }
        if key == "timeout":
            path: Path_ = ("jobSpec", "scheduling", "timeout")
            spec.setdefault("scheduling", {})
        elif key == "outputUriPrefix":
            path = ("jobSpec", "baseOutputDirectory", "outputUriPrefix")
            spec["baseOutputDirectory"] = {}
        else:
            where = ("jobSpec", "workerPoolSpecs", index, *parents[key])
            node = job
            for step in where:
                node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
            path = (*where, key)
        if (key == "imageUri" and task != "containerSpec") or (key == "pythonModule" and (
            task != "pythonPackageSpec"
        )):
            return  # the field is not in this pool's task
        value = data.draw(st.sampled_from(OUT_OF_RANGE[key]))
        report = validate(replaced(job, path, value), location="us-central1")
        assert_sound(report)
        near = field_name(path[:-1])
        problems = [p.field for p in [*report.errors, *report.warnings]]
        assert any(f.startswith(near) for f in problems), (path, value, problems)

    prop()
    fuzz_cases.expect()


def nest(depth: int, kind: str, leaf: Any, keys: list[str]) -> tuple[Any, str]:
    """``leaf`` inside ``depth`` lists and/or single-key objects, and its JSON text
    (built here: json.dumps itself recurses too deep)."""
    value, text = leaf, json.dumps(leaf)
    for i in range(depth):
        if kind == "list" or (kind == "mixed" and i % 2):
            value, text = [value], f"[{text}]"
        else:
            key = keys[i % len(keys)]
            value, text = {key: value}, f'{{"{key}": {text}}}'
    return value, text


def test_deeply_nested_documents_and_data_are_handled(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(200)
    @given(
        st.integers(1, 3000),
        st.sampled_from(["list", "map", "mixed"]),
        st.sampled_from(["x", 1, None, {}]),
        st.lists(st.sampled_from(["jobSpec", "labels", "a", "workerPoolSpecs"]), min_size=1),
        st.sampled_from(["jobSpec", "displayName", "labels", "x"]),
    )
    def prop(depth: int, kind: str, leaf: Any, keys: list[str], key: str) -> None:
        fuzz_cases.tick()
        value, inner = nest(depth, kind, leaf, keys)
        job = {key: value}
        assert_sound(validate(job))
        try:
            load_job(job)
        except InvalidJobError as exc:
            assert "Field: " in str(exc)
        try:
            doc = parse_job_text(f'{{"{key}": {inner}}}')
        except InputError as exc:
            assert "nesting depth" in str(exc) or "not valid JSON or YAML" in str(exc)
        else:
            assert_sound(validate(doc))

    prop()
    fuzz_cases.expect()


def test_any_data_with_job_keys_gives_a_sound_report(fuzz_cases: FuzzCases) -> None:
    @fuzz_cases.settings(250)
    @given(st.dictionaries(st.sampled_from(["displayName", "jobSpec", "labels", "x"]), SHAPED),
           st.none() | st.text(max_size=20))
    def prop(job: dict[str, Any], location: str | None) -> None:
        fuzz_cases.tick()
        assert_sound(validate(job, location=location))
        try:
            load_job(job)
        except InvalidJobError as exc:
            assert exc.report.errors, "refused with no error listed"
            assert str(exc).startswith("List of found errors:\t1.Field: ")

    prop()
    fuzz_cases.expect()


HUGE = 5 * 2**20


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000,
        "{a: " * 100_000,
        "- " * 100_000 + "x",
        '{"displayName": "' + "x" * HUGE + '"}',
        '{"' + "k" * HUGE + '": 1}',
        "&a [*a]",
        "a: &x [*x, *x]\nb: *x",
        "!!python/object/apply:os.system ['true']",
        '{"displayName": "\\ud800"}',
        "\ufeff{}",
        "displayName: x\n" * 10_000,
    ],
    ids=lambda t: repr(t[:20]),
)
def test_hostile_texts(text: str) -> None:
    try:
        doc = parse_job_text(text, source="h.yaml")
    except InputError as exc:
        assert str(exc).startswith("h.yaml: ")
        return
    assert_sound(validate(doc))
    try:
        load_job(doc)
    except InvalidJobError as exc:
        assert "Field: " in str(exc)
