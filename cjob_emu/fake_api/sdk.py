"""Point the real ``google-cloud-aiplatform`` SDK at the fake API, and back.

Touched, and restored when the context ends: the SDK's public ``aiplatform.init``; the
module constants ``google.cloud.aiplatform.jobs._JOB_WAIT_TIME`` (the sleep between
CustomJob polls, 5 s by default) and ``google.cloud.aiplatform.pipeline_jobs._JOB_WAIT_TIME``
(between PipelineJob polls, 5 s); optionally ``STORAGE_EMULATOR_HOST``; and one SDK
function, ``google.cloud.aiplatform.utils.resource_manager_utils.get_project_number``.
``PipelineJob.submit`` asks Resource Manager for the project number (to check the
pipeline root's bucket, and to grant a new bucket to the project's compute service
account) through a client made without ``aiplatform.init``'s settings, which no
setting redirects; offline it waits and fails. The replacement asks the same
question, with Resource Manager's own client, of the fake API (which serves
``projects.get``) instead.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cjob_emu.fake_api.projects import DEFAULT_PROJECT

DEFAULT_LOCATION = "us-central1"
DEFAULT_STAGING_BUCKET = "gs://cjob-emu-staging"
STORAGE_VARIABLE = "STORAGE_EMULATOR_HOST"
RESOURCE_MANAGER = "https://cloudresourcemanager.googleapis.com"
"""Resource Manager's own endpoint: what the ``responses`` mock intercepts."""

__all__ = ["DEFAULT_LOCATION", "DEFAULT_PROJECT", "DEFAULT_STAGING_BUCKET", "sdk_pointed_at"]


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
    ``poll_interval`` replaces the SDK's 5 s wait between CustomJob and PipelineJob
    polls (``None`` leaves them). ``storage_host`` sets ``STORAGE_EMULATOR_HOST``,
    which the ``google-cloud-storage`` client (and so the SDK's uploads and bucket
    checks) honours. The SDK's project-number lookup asks the fake API's Resource
    Manager (at ``endpoint``, or Resource Manager's own host for the mock). The SDK's
    global configuration, the constants, the function and the variable are restored
    afterwards.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer, jobs, pipeline_jobs
    from google.cloud.aiplatform.utils import resource_manager_utils

    config = initializer.global_config
    saved_config = copy.copy(vars(config))
    waits = [(module, vars(module).get("_JOB_WAIT_TIME")) for module in (jobs, pipeline_jobs)]
    saved_lookup = resource_manager_utils.get_project_number
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
        if poll_interval is not None:
            for module, wait in waits:
                if wait is not None:
                    vars(module)["_JOB_WAIT_TIME"] = poll_interval
        vars(resource_manager_utils)["get_project_number"] = _project_number_from(
            endpoint or RESOURCE_MANAGER
        )
        yield
    finally:
        if saved_storage is None:
            os.environ.pop(STORAGE_VARIABLE, None)
        else:
            os.environ[STORAGE_VARIABLE] = saved_storage
        for module, wait in waits:
            if wait is not None:
                vars(module)["_JOB_WAIT_TIME"] = wait
        vars(resource_manager_utils)["get_project_number"] = saved_lookup
        vars(config).clear()
        vars(config).update(saved_config)


def _project_number_from(endpoint: str) -> Any:
    """``get_project_number(project_id, credentials=None)`` as the SDK's, asking
    Resource Manager at ``endpoint`` over REST."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import resourcemanager

    def get_project_number(project_id: str, credentials: Any = None) -> str:
        client = resourcemanager.ProjectsClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
        )
        project = client.get_project(name=f"projects/{project_id}")
        return str(project.name.split("/", 1)[1])

    return get_project_number
