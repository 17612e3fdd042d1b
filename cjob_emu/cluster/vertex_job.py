"""The job as Vertex's training service describes it to a replica, and the text form it uses.

Part of the cluster room (:mod:`cjob_emu.cluster` builds every variable from these):
the legacy trainer JSON of CLUSTER_SPEC.job and CLOUD_ML_JOB, the compact text of
those variables, the run-as account, and which pool holds Reduction Server reducers.
Pure functions over ``aiplatform_v1`` messages, no I/O.

Evidence: the "Observed on real Vertex" table of the project's reference
(vertex-customjob.md): a published environment dump of a Vertex custom job (Google
Bug Hunters blog) and a library's parser comment ("DESPITE what the docs say, this is
*not* a CustomJobSpec").
"""

from __future__ import annotations

import json
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, WorkerPoolSpec

REDUCTION_SERVER_IMAGE = "us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver"
"""Vertex's Reduction Server image (documented with the tag ``latest``). Pool 2 runs
reducers, not trainers, when its container is this image (Vertex docs on Reduction
Server); that another tag or a digest of it counts the same is a guess."""

REDUCTION_SERVER_POOL = 2
"""The pool Vertex's docs put Reduction Server replicas in (``workerPoolSpecs[2]``)."""

JOB_TEXT_VARIABLES = frozenset({"CLUSTER_SPEC", "TF_CONFIG", "CLOUD_ML_JOB"})
"""Variables that describe the job as submitted (its gs:// URIs included)."""

AIPLATFORM_SERVICE_AGENT = "service-{project_number}@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"
"""CLOUD_ML_JOB_SA when the job names no service account: the Vertex AI Custom Code
Service Agent of the project (observed in the dump; CustomJobSpec.service_account's
docstring names the same agent as the default run-as account)."""

# Observed: the dump writes "=" inside args as \u003d, the escaping Gson (the JSON
# library of Google's Java services) applies by default. "<", ">", "&" and "'" are the
# rest of Gson's default escapes: a guess that they are escaped the same way.
_GSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027"}
)


def compact_json(value: Any) -> str:
    """``value`` as the text of Vertex's variables: compact JSON, keys in the given order.

    Observed: CLUSTER_SPEC is compact (no spaces after ``:`` and ``,``) with its keys in
    a fixed order. The five characters Gson escapes by default become ``\\uXXXX``;
    parsed, the text gives the same value.
    """
    return json.dumps(value, separators=(",", ":")).translate(_GSON_ESCAPES)


def trainer_job(pool: WorkerPoolSpec) -> dict[str, Any]:
    """The legacy trainer shape Vertex puts in CLUSTER_SPEC.job and CLOUD_ML_JOB for ``pool``.

    Observed: ``{"python_module":"","package_uris":[],"job_args":[]}`` for a container
    pool, the pool's module, package URIs and args for a Python package pool. Which pool
    a replica is told about (its own) is a guess: the dump comes from a one-pool job.
    """
    if WorkerPoolSpec.pb(pool).WhichOneof("task") != "python_package_spec":
        return {"python_module": "", "package_uris": [], "job_args": []}
    package = pool.python_package_spec
    return {
        "python_module": package.python_module,
        "package_uris": list(package.package_uris),
        "job_args": list(package.args),
    }


def uses_custom_container(pool: WorkerPoolSpec) -> bool:
    """Whether ``pool`` runs a container of the user's (``container_spec``).

    Its replicas get ``AIP_USE_CUSTOM_CONTAINER=true`` (observed on a container job);
    that a Python package pool's replicas do not get it is a guess.
    """
    return WorkerPoolSpec.pb(pool).WhichOneof("task") == "container_spec"


def run_as_account(service_account: str, project_number: str) -> str:
    """CLOUD_ML_JOB_SA: the job's ``service_account``, else the project's service agent.

    Observed for a job without a service account; that a job's own account is shown
    as it is written is a guess.
    """
    return service_account or AIPLATFORM_SERVICE_AGENT.format(project_number=project_number)


def is_reduction_server_pool(job: CustomJob, pool: int) -> bool:
    """Whether pool ``pool`` of ``job`` holds Reduction Server reducers, not trainers.

    True for pool 2 when its container image is :data:`REDUCTION_SERVER_IMAGE` (any tag
    or digest). Reducers stay in CLUSTER_SPEC and, as pool 2, in TF_CONFIG's ``ps``;
    they are left out of the PyTorch world (WORLD_SIZE, RANK) and get none of its
    variables. The image exists only in Vertex's restricted registry: a local run
    reports such replicas as not emulated rather than starting them.
    """
    pools = job.job_spec.worker_pool_specs
    if pool != REDUCTION_SERVER_POOL or pool >= len(pools):
        return False
    image = pools[pool].container_spec.image_uri.split("@", 1)[0]
    name, _, tag = image.rpartition(":")
    return (name if name and "/" not in tag else image) == REDUCTION_SERVER_IMAGE
