"""Point the real ``google-cloud-aiplatform`` SDK at the fake API, and back.

Only the SDK's public ``aiplatform.init`` and the module constant
``google.cloud.aiplatform.jobs._JOB_WAIT_TIME`` (the sleep between polls, 5 s
by default) are touched; both are restored when the context ends.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_PROJECT = "cjob-emu-project"
DEFAULT_LOCATION = "us-central1"
DEFAULT_STAGING_BUCKET = "gs://cjob-emu-staging"


@contextmanager
def sdk_pointed_at(
    endpoint: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    staging_bucket: str = DEFAULT_STAGING_BUCKET,
    poll_interval: float | None = 0.05,
) -> Iterator[None]:
    """Within the block, ``aiplatform`` talks REST to ``endpoint`` with anonymous credentials.

    ``endpoint`` is the server URL (``http://127.0.0.1:PORT``); ``None`` keeps
    Vertex's own regional endpoint, which is what :class:`VertexMock` intercepts.
    ``poll_interval`` replaces the SDK's 5 s wait between job polls (``None``
    leaves it). The SDK's global configuration is restored afterwards.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer, jobs

    config = initializer.global_config
    saved_config = copy.copy(vars(config))
    saved_wait = getattr(jobs, "_JOB_WAIT_TIME", None)
    try:
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
        if saved_wait is not None:
            vars(jobs)["_JOB_WAIT_TIME"] = saved_wait
        vars(config).clear()
        vars(config).update(saved_config)
