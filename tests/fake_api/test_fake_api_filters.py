"""The customJobs.list filter: AIP-160 grammar and the fields Vertex documents."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.aiplatform_v1 import CustomJob
from hypothesis import given
from hypothesis import strategies as st

from cjob_emu.fake_api.filters import FilterError, compile_filter


def job(name: str = "my_job_1", state: int = 4, labels: dict[str, str] | None = None,
        created: str = "2022-01-01T00:00:00Z") -> Any:
    pb = CustomJob.pb()(display_name=name, state=state, labels=labels or {})
    pb.create_time.FromJsonString(created)
    return pb


A = job("my_job_a", 4, {"team": "ml", "my-key": "x"}, "2022-01-01T00:00:00Z")
B = job("my_job_b", 5, {"team": "data"}, "2022-06-01T12:00:00.5Z")
C = job("other", 3, {}, "2023-01-01T00:00:00Z")
JOBS = {"a": A, "b": B, "c": C}


def matching(text: str) -> str:
    predicate = compile_filter(text)
    return "".join(k for k, j in JOBS.items() if predicate(j))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "abc"),
        ("   ", "abc"),
        # the examples of the Vertex reference
        ('state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"', "a"),
        ('state!="JOB_STATE_FAILED" OR display_name="my_job"', "ac"),
        ('NOT display_name="my_job_a"', "bc"),
        ('create_time>"2021-05-18T00:00:00Z"', "abc"),
        ("labels.team=ml", "a"),
        ("labels.team:*", "ab"),
        # spellings and operators
        ("displayName=other", "c"),
        ("display_name:*job*", "ab"),
        ("display_name:my_job_?", ""),  # only * is a wildcard
        ("state=5", "b"),
        ("createTime>=2022-06-01T12:00:00.5Z", "bc"),
        ("create_time<2022-06-01T12:00:00.500000001Z", "ab"),
        ('create_time!="2022-01-01T00:00:00Z"', "bc"),
        ("create_time=2022-01-01T01:00:00+01:00", "a"),
        ("labels.my-key:*", "a"),
        ('labels."my-key"=x', "a"),
        ("labels.team!=ml", "bc"),
        ("labels.team:d*", "b"),
        ("labels:team", "ab"),
        # grammar: OR binds tighter than AND, juxtaposition is AND, - is NOT
        ("labels.team=ml AND state=JOB_STATE_SUCCEEDED OR state=JOB_STATE_RUNNING", "a"),
        ("(labels.team=ml AND state=JOB_STATE_SUCCEEDED) OR state=JOB_STATE_RUNNING", "ac"),
        ("display_name:my* state=JOB_STATE_FAILED", "b"),
        ("-labels.team:*", "c"),
        ("NOT (labels.team=ml OR labels.team=data)", "c"),
        ("NOT(state=JOB_STATE_RUNNING)", "ab"),
        ('display_name="say \\"hi\\""', ""),
    ],
)
def test_filters_select_the_documented_jobs(text: str, expected: str) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('name="x"', "unsupported field 'name'"),
        ("update_time>2020-01-01T00:00:00Z", "unsupported field 'update_time'"),
        ("state<JOB_STATE_FAILED", "state does not support '<'"),
        ("state:JOB_STATE_FAILED", "state does not support ':'"),
        ("state=BOGUS", "unknown state 'BOGUS'"),
        ("display_name>a", "display_name does not support '>'"),
        ("create_time:2020", "create_time does not support ':'"),
        ("create_time>yesterday", "RFC 3339"),
        ("labels=x", "labels.<key>=<value>"),
        ("display_name=", "expected a value"),
        ('display_name="open', "unterminated string"),
        ("(state=5", "missing ')'"),
        ("state=5)", "unexpected ')'"),
        ("display_name", "expected a comparison"),
        ("labels.=x", "ends with '.'"),
        ("AND", "expected a comparison"),
        ("state=5 OR", "expected a field name"),
    ],
)
def test_bad_filters_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(FilterError, match=None) as info:
        compile_filter(text)
    assert says in str(info.value)


@given(st.text(alphabet=st.sampled_from(list('ab.="*:()-! <>ANDORNOT\\\'labelsstate_09Z')),
               max_size=40))
def test_any_text_compiles_or_raises_filter_error(text: str) -> None:
    try:
        predicate = compile_filter(text)
    except FilterError:
        return
    for candidate in JOBS.values():
        assert predicate(candidate) in (True, False)
