"""Point the real ``google-cloud-aiplatform`` SDK at the fake API, and back.

Only the SDK's public ``aiplatform.init``, the module constant
``google.cloud.aiplatform.jobs._JOB_WAIT_TIME`` (the sleep between polls, 5 s
by default) and optionally ``STORAGE_EMULATOR_HOST`` are touched; all are
restored when the context ends.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_PROJECT = "cjob-emu-project"
DEFAULT_LOCATION = "us-central1"
DEFAULT_STAGING_BUCKET = "gs://cjob-emu-staging"
STORAGE_VARIABLE = "STORAGE_EMULATOR_HOST"


@contextmanager
def sdk_pointed_at(
    endpoint: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    staging_bucket: str = DEFAULT_STAGING_BUCKET,
    poll_interval: float | None = 0.05,
    storage_host: str | None = None,
) -> Iterator[None]:
    """Within the block, ``aiplatform`` talks REST to ``endpoint`` with anonymous credentials.

    ``endpoint`` is the server URL (``http://127.0.0.1:PORT``); ``None`` keeps
    Vertex's own regional endpoint, which is what :class:`VertexMock` intercepts.
    ``poll_interval`` replaces the SDK's 5 s wait between job polls (``None``
    leaves it). ``storage_host`` sets ``STORAGE_EMULATOR_HOST``, which the
    ``google-cloud-storage`` client (and so the SDK's uploads) honours. The SDK's
    global configuration and the variable are restored afterwards.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer, jobs

    config = initializer.global_config
    saved_config = copy.copy(vars(config))
    saved_wait = getattr(jobs, "_JOB_WAIT_TIME", None)
    saved_storage = os.environ.get(STORAGE_VARIABLE)
    try:
        if storage_host is not None:
            os.environ[STORAGE_VARIABLE] = storage_host
        aiplatform.init(
            project=project,
            location=location,
            staging_bucket=staging_bucket,
            credentials=AnonymousCredentials(),
            api_endpoint=endpoint or f"https://{location}-aiplatform.googleapis.com",
            api_transport="rest",
        )
        if poll_interval is not None and saved_wait is not None:
            vars(jobs)["_JOB_WAIT_TIME"] = poll_interval
        yield
    finally:
        if saved_storage is None:
            os.environ.pop(STORAGE_VARIABLE, None)
        else:
            os.environ[STORAGE_VARIABLE] = saved_storage
        if saved_wait is not None:
            vars(jobs)["_JOB_WAIT_TIME"] = saved_wait
        vars(config).clear()
        vars(config).update(saved_config)
