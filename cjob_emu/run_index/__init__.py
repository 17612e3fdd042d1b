"""The runs of a runs directory, recorded in one small index for every consumer.

    from cjob_emu.run_index import RunIndex

    index = RunIndex(".cjob-emu/runs")          # the default runs directory
    for entry in reversed(index.entries()):      # newest first
        entry.id, entry.kind, entry.name, entry.state, entry.duration(), entry.run_dir
    index.find("last"), index.find("20250102-03")  # a run by id, unique prefix or "last"

The executor records each CustomJob run at every state change, the pipeline runner each
pipeline run (its CustomJob tasks point to it); ``cjob-emu runs``, ``logs``, ``show``
and ``cleanup --older-than`` read the index (:mod:`.store`), and each run's details in
its directory (:mod:`.files`), never scanning logs. Pure standard library: reading the
index loads no aiplatform module.
"""

from cjob_emu.run_index.entry import (
    ENDED_STATES,
    JOB,
    PIPELINE,
    Owner,
    ParentRun,
    RunEntry,
    now_rfc3339,
    parse_time,
    rfc3339,
)
from cjob_emu.run_index.store import DEFAULT_RUNS_DIR, INDEX_FILE, RunIndex, UnknownRunError

__all__ = [
    "DEFAULT_RUNS_DIR",
    "ENDED_STATES",
    "INDEX_FILE",
    "JOB",
    "PIPELINE",
    "Owner",
    "ParentRun",
    "RunEntry",
    "RunIndex",
    "UnknownRunError",
    "now_rfc3339",
    "parse_time",
    "rfc3339",
]
