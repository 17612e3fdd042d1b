"""The kinds of job the fake API keeps: ``customJobs`` and ``pipelineJobs``.

Both are kept by the same :class:`~cjob_emu.fake_api.store.JobStore` rules (states,
times, cancel, delete, paging); a :class:`Kind` says what differs: the collection in
the resource name, the message, the state enum, and how ids are made. ``JobState``
and ``PipelineState`` number their shared states alike (checked below), so the store
works with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import (
    CustomJob,
    JobState,
    ListCustomJobsResponse,
    ListPipelineJobsResponse,
    PipelineJob,
    PipelineState,
)

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED = 2, 3, 4, 5, 6, 7
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

_JOB_STATES: Any = JobState  # proto-plus enums: IntEnums mypy does not see as ones
_PIPELINE_STATES: Any = PipelineState
for _number, _name in ((PENDING, "PENDING"), (RUNNING, "RUNNING"), (SUCCEEDED, "SUCCEEDED"),
                       (FAILED, "FAILED"), (CANCELLING, "CANCELLING"),
                       (CANCELLED, "CANCELLED")):
    if not (int(_JOB_STATES[f"JOB_STATE_{_name}"])
            == int(_PIPELINE_STATES[f"PIPELINE_STATE_{_name}"]) == _number):
        raise ImportError(f"JobState and PipelineState disagree on {_name}")


@dataclass(frozen=True)
class Kind:
    """One collection of jobs.

    Attributes:
        collection: The resource name's collection (``customJobs``).
        noun: The message's name in error texts (``CustomJob``).
        message: The proto-plus message class.
        states: The state enum (``JobState``, ``PipelineState``).
        state_prefix: Its names' prefix (``JOB_STATE_``).
        list_response: The list method's response message.
        list_field: Its field holding the jobs (``custom_jobs``).
        numeric_ids: Ids are made by the server as 19-digit numbers (else the caller
            chooses them, as ``pipelineJobId``).
    """

    collection: str
    noun: str
    message: Any
    states: Any
    state_prefix: str
    list_response: Any
    list_field: str
    numeric_ids: bool

    def state_name(self, state: int) -> str:
        return str(self.states(state).name)

    def state_number(self, name: str) -> int:
        """The number of a state named in full, without the prefix, or as digits."""
        if name.isdigit():
            return int(self.states(int(name)))
        full = name if name.startswith(self.state_prefix) else self.state_prefix + name
        return int(self.states[full])

    def new_message(self) -> Any:
        """An empty protobuf message of this kind."""
        return self.message.pb()()


CUSTOM_JOBS = Kind("customJobs", "CustomJob", CustomJob, JobState, "JOB_STATE_",
                   ListCustomJobsResponse, "custom_jobs", numeric_ids=True)
PIPELINE_JOBS = Kind("pipelineJobs", "PipelineJob", PipelineJob, PipelineState,
                     "PIPELINE_STATE_", ListPipelineJobsResponse, "pipeline_jobs",
                     numeric_ids=False)
KINDS = (CUSTOM_JOBS, PIPELINE_JOBS)


def kind_of(name: str) -> Kind | None:
    """The kind a resource name belongs to (``.../customJobs/ID``), if any."""
    parts = name.split("/")
    if len(parts) != 6:
        return None
    return next((k for k in KINDS if parts[4] == k.collection), None)
