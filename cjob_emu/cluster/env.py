"""Which replicas a CustomJob has and every environment variable each one sees.

Pure functions over a ``google.cloud.aiplatform_v1.CustomJob``: no I/O, no clock,
no randomness, so the same job and options always give the same environment.

What a replica sees (in this order; a later entry wins over an earlier one):

- ``CLUSTER_SPEC`` on every replica, single-replica jobs too; ``job`` in it is the
  legacy trainer JSON (see :mod:`cjob_emu.cluster.vertex_job` and ``ClusterOptions``).
- ``TF_CONFIG`` on every replica of a job with more than one replica in total.
- ``CLOUD_ML_PROJECT_ID``, ``CLOUD_ML_JOB_ID``, ``CLOUD_ML_REGION``, ``CLOUD_ML_JOB``
  (the same text as CLUSTER_SPEC's ``job``), ``CLOUD_ML_JOB_SA``.
- ``AIP_USE_CUSTOM_CONTAINER=true`` on container pools.
- ``AIP_MODEL_DIR``, ``AIP_CHECKPOINT_DIR``, ``AIP_TENSORBOARD_LOG_DIR`` when
  ``job_spec.base_output_directory`` is set (under ``<trial>/`` in tuning).
- ``AIP_TENSORBOARD_RESOURCE_NAME`` and ``AIP_TENSORBOARD_API_URI`` when
  ``job_spec.tensorboard`` is set; ``AIP_EXPERIMENT_NAME`` and
  ``AIP_EXPERIMENT_RUN_NAME`` when ``job_spec.experiment`` / ``experiment_run`` are.
- ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``: an emulator addition
  (Vertex's prebuilt PyTorch images set them; a custom container on Vertex does not
  get them), on for multi-replica jobs, never on the evaluator pool nor on Reduction
  Server reducers (see :func:`cjob_emu.cluster.vertex_job.is_reduction_server_pool`), off with
  ``ClusterOptions(pytorch_env=False)``.
- Last, the pool's own ``env`` list (``container_spec`` or ``python_package_spec``),
  with Kubernetes ``$(VAR)`` expansion (see :func:`expand_env_value`).

CLUSTER_SPEC, TF_CONFIG and CLOUD_ML_JOB are compact JSON
(:func:`cjob_emu.cluster.vertex_job.compact_json`), as observed on Vertex.

Addresses are Vertex's ``cmle-training-workerpool{N}-{10 hex}-{i}:2222`` unless a
backend passes its own ``address`` callable (the process backend maps every
replica to ``127.0.0.1:<free port>``); every variable that names a peer
(``CLUSTER_SPEC``, ``TF_CONFIG``, ``MASTER_ADDR``/``MASTER_PORT``) uses it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from google.cloud.aiplatform_v1 import CustomJob, CustomJobSpec, EnvVar, WorkerPoolSpec
from google.protobuf import json_format

from cjob_emu.cluster.vertex_job import (
    compact_json,
    is_reduction_server_pool,
    run_as_account,
    trainer_job,
    uses_custom_container,
)
from cjob_emu.errors import CjobEmuError, InputError

VERTEX_PORT = 2222
"""The port Vertex gives every replica in CLUSTER_SPEC and TF_CONFIG."""

POOL_ROLES: tuple[str, ...] = ("chief", "worker", "ps", "evaluator")
"""TF_CONFIG task type of worker pools 0-3; Vertex allows no more pools than these."""

DEFAULT_PROJECT_NUMBER = "123456789012"
"""CLOUD_ML_PROJECT_ID when neither the options nor the job name give a project number."""

DEFAULT_REGION = "us-central1"
"""CLOUD_ML_REGION when neither the options nor the job name give a location."""

DEFAULT_TENSORBOARD_API_URI = "aiplatform.googleapis.com"
"""AIP_TENSORBOARD_API_URI: the SDK's profiler passes it as ``api_base_path_override``
and prefixes the region itself, so it is the bare service host."""

Address = Callable[["Replica"], str]
"""Maps a replica to the ``"host:port"`` its peers reach it at."""

_REPLICA_NAME = re.compile(r"workerpool(?P<pool>[0-9])-(?P<index>0|[1-9][0-9]*)")
_JOB_NAME = re.compile(
    r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/customJobs/(?P<id>[^/]+)"
)
_ENV_REFERENCE = re.compile(r"\$(\$|\((?P<name>[^)]*)\))")


@dataclass(frozen=True, order=True)
class Replica:
    """One replica of a job: replica ``index`` of worker pool ``pool``.

    Ordering follows Vertex's: by pool, then by index.
    """

    pool: int
    index: int

    @property
    def name(self) -> str:
        """Vertex's replica name, e.g. ``workerpool1-0`` (log prefixes, webAccessUris keys)."""
        return f"workerpool{self.pool}-{self.index}"

    @property
    def pool_name(self) -> str:
        """The pool's key in CLUSTER_SPEC, and CLUSTER_SPEC's task type: ``workerpool{N}``."""
        return f"workerpool{self.pool}"

    @property
    def role(self) -> str:
        """The TF_CONFIG task type: chief, worker, ps or evaluator."""
        return POOL_ROLES[self.pool]

    @property
    def is_primary(self) -> bool:
        """Whether this is workerpool0-0, the replica that reports for the whole job."""
        return self.pool == 0 and self.index == 0

    def __str__(self) -> str:
        return self.name


def parse_replica_name(name: str) -> Replica:
    """Parse ``workerpool{N}-{i}`` (N in 0-3) into a :class:`Replica`.

    Raises :class:`InputError` saying what a replica name looks like otherwise.
    """
    match = _REPLICA_NAME.fullmatch(name)
    if match is None or int(match["pool"]) >= len(POOL_ROLES):
        raise InputError(
            f"{name!r} is not a replica name; expected workerpool<N>-<i> with N in 0-3 "
            "and i a replica index, e.g. workerpool0-0 or workerpool1-2"
        )
    return Replica(int(match["pool"]), int(match["index"]))


@dataclass(frozen=True)
class ClusterOptions:
    """Choices the real service makes that a local run has to make up.

    Attributes:
        project_number: CLOUD_ML_PROJECT_ID, digits. Default: the project part of
            ``job.name`` when it is a number (Vertex answers with the number there),
            else :data:`DEFAULT_PROJECT_NUMBER`.
        job_id: CLOUD_ML_JOB_ID, digits. Default: the id in ``job.name``, else a
            19-digit number derived from ``run_id`` / the job (like Vertex's ids).
        region: CLOUD_ML_REGION. Default: the location in ``job.name``, else
            :data:`DEFAULT_REGION`.
        run_id: What the 10-hex hostname hash (and a derived job id) come from.
            Default: ``job.name``, else ``job.display_name``; so one job always gets
            the same hostnames, and two runs can be told apart by passing run ids.
        cluster_spec_job_as: What the ``job`` key of CLUSTER_SPEC and TF_CONFIG (and
            CLOUD_ML_JOB) holds. ``"trainer"`` (default): the legacy trainer JSON as a
            string, ``{"python_module":...,"package_uris":[...],"job_args":[...]}`` of
            the replica's pool, as observed on Vertex (see
            :func:`cjob_emu.cluster.vertex_job.trainer_job`). ``"string"``: the CustomJobSpec's
            REST JSON (camelCase keys, enum names, int64 as strings, as
            ``json_format.MessageToDict`` writes it) as a string; ``"object"``: the same
            as a JSON object, as the Vertex docs describe it.
        pytorch_env: Set MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK on
            multi-replica jobs (an emulator addition; see the module docstring).
        tensorboard_api_uri: AIP_TENSORBOARD_API_URI when the job names a tensorboard.
    """

    project_number: str | None = None
    job_id: str | None = None
    region: str | None = None
    run_id: str | None = None
    cluster_spec_job_as: Literal["trainer", "string", "object"] = "trainer"
    pytorch_env: bool = True
    tensorboard_api_uri: str = DEFAULT_TENSORBOARD_API_URI

    def __post_init__(self) -> None:
        for field in ("project_number", "job_id"):
            value = getattr(self, field)
            if value is not None and not value.isdigit():
                raise InputError(f"ClusterOptions.{field} must be digits, got {value!r}")
        if self.region is not None and not self.region:
            raise InputError("ClusterOptions.region must not be empty")
        if self.cluster_spec_job_as not in ("trainer", "string", "object"):
            raise InputError(
                "ClusterOptions.cluster_spec_job_as must be 'trainer', 'string' or 'object', "
                f"got {self.cluster_spec_job_as!r}"
            )


def replicas(job: CustomJob) -> list[Replica]:
    """Every replica of ``job``, in Vertex order: pool by pool, index by index.

    Pools with ``replica_count`` 0 (such as a skipped pool ``{}``) contribute none
    but keep their position, so the pools after them keep their role. Raises
    :class:`InputError` for more than four pools or a negative count.
    """
    pools = job.job_spec.worker_pool_specs
    if len(pools) > len(POOL_ROLES):
        raise InputError(
            f"job_spec.worker_pool_specs has {len(pools)} pools; Vertex allows at most "
            f"{len(POOL_ROLES)} (primary, workers, parameter servers, evaluators)"
        )
    found: list[Replica] = []
    for pool_index, pool in enumerate(pools):
        if pool.replica_count < 0:
            raise InputError(
                f"job_spec.worker_pool_specs[{pool_index}].replica_count is "
                f"{pool.replica_count}; it cannot be negative"
            )
        found.extend(Replica(pool_index, i) for i in range(pool.replica_count))
    return found


def replica_by_name(job: CustomJob, name: str) -> Replica:
    """The replica of ``job`` called ``name``; :class:`InputError` if it has none such."""
    wanted = parse_replica_name(name)
    present = replicas(job)
    if wanted not in present:
        names = ", ".join(r.name for r in present) or "none"
        raise InputError(f"the job has no replica {name}; its replicas: {names}")
    return wanted


def project_number(job: CustomJob, options: ClusterOptions | None = None) -> str:
    """CLOUD_ML_PROJECT_ID: ``options.project_number``, else the project part of
    ``job.name`` when it is a number (Vertex answers with the number there), else
    :data:`DEFAULT_PROJECT_NUMBER`. The one place the project number comes from."""
    opts = options or ClusterOptions()
    parsed = _JOB_NAME.fullmatch(job.name)
    project = parsed["project"] if parsed else ""
    return opts.project_number or (project if project.isdigit() else DEFAULT_PROJECT_NUMBER)


def hostname_hash(job: CustomJob, options: ClusterOptions | None = None) -> str:
    """The 10 hex digits in this job's Vertex hostnames (see ``ClusterOptions.run_id``)."""
    return _digest(_seed(job, options or ClusterOptions()))[:10]


def vertex_hostname(job: CustomJob, replica: Replica, options: ClusterOptions | None = None) -> str:
    """The hostname Vertex would give ``replica``: ``cmle-training-workerpool{N}-{hash}-{i}``."""
    return _hostname(replica, hostname_hash(job, options))


def vertex_address(job: CustomJob, options: ClusterOptions | None = None) -> Address:
    """The default address map: each replica's Vertex hostname on port 2222."""
    digest = hostname_hash(job, options)
    return lambda replica: f"{_hostname(replica, digest)}:{VERTEX_PORT}"


def cluster_spec(
    job: CustomJob,
    replica: Replica,
    *,
    trial: str | None = None,
    options: ClusterOptions | None = None,
    address: Address | None = None,
) -> dict[str, Any]:
    """The CLUSTER_SPEC mapping ``replica`` sees (before JSON encoding)."""
    opts = options or ClusterOptions()
    _check_trial(trial)
    members = _require_member(job, replica)
    addr = address or vertex_address(job, opts)
    cluster: dict[str, list[str]] = {}
    for member in members:
        cluster.setdefault(member.pool_name, []).append(_checked_address(addr, member))
    task: dict[str, Any] = {"type": replica.pool_name, "index": replica.index}
    if trial:
        # Observed: no "trial" key outside hyperparameter tuning.
        task["trial"] = trial
    return {
        "cluster": cluster,
        "environment": "cloud",
        "task": task,
        "job": _job_value(job, replica, opts),
    }


def tf_config(
    job: CustomJob,
    replica: Replica,
    *,
    trial: str | None = None,
    options: ClusterOptions | None = None,
    address: Address | None = None,
) -> dict[str, Any] | None:
    """The TF_CONFIG mapping ``replica`` sees, or None for a single-replica job.

    Pools 0-2 are ``chief``, ``worker`` and ``ps`` in ``cluster``; the evaluator pool
    never appears there, its replicas only get ``task.type == "evaluator"``. Keys in
    CLUSTER_SPEC's order (cluster, environment, task, job): a guess, as is ``job``
    holding the same value as CLUSTER_SPEC's (the only ``job`` observed on Vertex).
    ``task`` has no ``trial``, even in tuning (observed: "This doesn't exist in Vertex
    AI", a published trainer). Reduction Server reducers are pool 2, so ``ps`` here: a
    guess (the docs give pool 2 both roles and say nothing else of TF_CONFIG).
    """
    opts = options or ClusterOptions()
    _check_trial(trial)
    members = _require_member(job, replica)
    if len(members) < 2:
        return None
    addr = address or vertex_address(job, opts)
    cluster: dict[str, list[str]] = {}
    for member in members:
        if member.role != "evaluator":
            cluster.setdefault(member.role, []).append(_checked_address(addr, member))
    return {
        "cluster": cluster,
        "environment": "cloud",
        "task": {"type": replica.role, "index": replica.index},
        "job": _job_value(job, replica, opts),
    }


def replica_env(
    job: CustomJob,
    replica: Replica,
    *,
    trial: str | None = None,
    options: ClusterOptions | None = None,
    address: Address | None = None,
) -> dict[str, str]:
    """Every environment variable Vertex (and the emulator) sets for ``replica``.

    ``trial`` is a hyperparameter-tuning trial id (Vertex numbers them from "1"):
    it goes into CLUSTER_SPEC's task and the AIP_* directories. ``address`` replaces
    the Vertex hostnames for backends whose replicas live elsewhere. Raises
    :class:`InputError` when ``replica`` is not in the job, the job has no primary
    replica, or ``trial`` is empty or holds a ``/``.
    """
    opts = options or ClusterOptions()
    _check_trial(trial)
    members = _require_member(job, replica)
    addr = address or vertex_address(job, opts)
    spec = cluster_spec(job, replica, trial=trial, options=opts, address=addr)
    env: dict[str, str] = {"CLUSTER_SPEC": compact_json(spec)}
    tf = tf_config(job, replica, trial=trial, options=opts, address=addr)
    if tf is not None:
        env["TF_CONFIG"] = compact_json(tf)
    env.update(_cloud_ml_env(job, spec["job"], opts))
    if uses_custom_container(job.job_spec.worker_pool_specs[replica.pool]):
        env["AIP_USE_CUSTOM_CONTAINER"] = "true"
    env.update(_aip_env(job.job_spec, trial, opts))
    if opts.pytorch_env and len(members) > 1:
        env.update(_pytorch_env(job, members, replica, addr))
    return apply_container_env(env, pool_env(job, replica.pool))


def all_replica_envs(
    job: CustomJob,
    *,
    trial: str | None = None,
    options: ClusterOptions | None = None,
    address: Address | None = None,
) -> dict[str, dict[str, str]]:
    """:func:`replica_env` for every replica, keyed by replica name in Vertex order."""
    return {
        r.name: replica_env(job, r, trial=trial, options=options, address=address)
        for r in replicas(job)
    }


def pool_env(job: CustomJob, pool: int) -> list[EnvVar]:
    """The ``env`` list of pool ``pool``'s container or Python package spec (maybe empty)."""
    spec = job.job_spec.worker_pool_specs[pool]
    task = WorkerPoolSpec.pb(spec).WhichOneof("task")
    if task == "container_spec":
        return list(spec.container_spec.env)
    if task == "python_package_spec":
        return list(spec.python_package_spec.env)
    return []


def apply_container_env(base: Mapping[str, str], env: Iterable[EnvVar]) -> dict[str, str]:
    """``base`` overlaid with ``env`` in order, each value expanded against what came before.

    A later entry replaces an earlier one with the same name, including the
    service's own variables: as in Kubernetes, the pool's env list has the last word.
    """
    result = dict(base)
    for var in env:
        result[var.name] = expand_env_value(var.value, result)
    return result


def expand_env_value(value: str, defined: Mapping[str, str]) -> str:
    """Expand ``$(NAME)`` references in ``value`` the way Kubernetes (and so Vertex) does.

    ``$(NAME)`` becomes ``defined[NAME]``, and stays as written when NAME is not
    defined; ``$$`` is an escaped ``$``, so ``$$(NAME)`` gives a literal ``$(NAME)``;
    any other ``$`` (``$NAME``, ``${NAME}``, an unclosed ``$(``) is kept as is.
    """

    def replace(match: re.Match[str]) -> str:
        if match[1] == "$":
            return "$"
        name = match["name"]
        return defined.get(name, match[0])

    return _ENV_REFERENCE.sub(replace, value)


def _require_member(job: CustomJob, replica: Replica) -> list[Replica]:
    """The job's replicas, after checking it has a primary and contains ``replica``."""
    members = replicas(job)
    if Replica(0, 0) not in members:
        raise InputError(
            "the job has no primary replica: job_spec.worker_pool_specs[0] needs replica_count 1"
        )
    if replica not in members:
        names = ", ".join(r.name for r in members)
        raise InputError(f"the job has no replica {replica.name}; its replicas: {names}")
    return members


def _hostname(replica: Replica, digest: str) -> str:
    return f"cmle-training-{replica.pool_name}-{digest}-{replica.index}"


def _check_trial(trial: str | None) -> None:
    if trial is not None and (not trial or "/" in trial):
        raise InputError(f"trial must be a non-empty id without '/', got {trial!r}")


def _checked_address(address: Address, replica: Replica) -> str:
    value = address(replica)
    _split_address(value, replica)
    return value


def _split_address(value: str, replica: Replica) -> tuple[str, str]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        # A backend's address hook is wrong: a bug, but one a user of the hook can make.
        raise CjobEmuError(
            f"address for {replica.name} must be 'host:port' with a numeric port, got {value!r}"
        )
    return host, port


def _seed(job: CustomJob, options: ClusterOptions) -> str:
    return options.run_id or job.name or job.display_name


def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def _job_value(job: CustomJob, replica: Replica, options: ClusterOptions) -> str | dict[str, Any]:
    if options.cluster_spec_job_as == "trainer":
        return compact_json(trainer_job(job.job_spec.worker_pool_specs[replica.pool]))
    spec = json_format.MessageToDict(CustomJobSpec.pb(job.job_spec))
    return spec if options.cluster_spec_job_as == "object" else compact_json(spec)


def _cloud_ml_env(
    job: CustomJob, job_value: str | dict[str, Any], options: ClusterOptions
) -> dict[str, str]:
    number = project_number(job, options)
    parsed = _JOB_NAME.fullmatch(job.name)
    numeric_id = parsed["id"] if parsed and parsed["id"].isdigit() else None
    # Vertex ids are 19-digit numbers; a made-up one keeps int(CLOUD_ML_JOB_ID) working.
    derived_id = str(10**18 + int(_digest(_seed(job, options)), 16) % (9 * 10**18))
    return {
        "CLOUD_ML_PROJECT_ID": number,
        "CLOUD_ML_JOB_ID": options.job_id or numeric_id or derived_id,
        "CLOUD_ML_REGION": options.region or (parsed["location"] if parsed else DEFAULT_REGION),
        # Observed: the same text as CLUSTER_SPEC's job.
        "CLOUD_ML_JOB": job_value if isinstance(job_value, str) else compact_json(job_value),
        "CLOUD_ML_JOB_SA": run_as_account(job.job_spec.service_account, number),
    }


def _aip_env(spec: CustomJobSpec, trial: str | None, options: ClusterOptions) -> dict[str, str]:
    env: dict[str, str] = {}
    base = spec.base_output_directory.output_uri_prefix
    if base:
        # Joined with exactly one "/" whether or not the prefix ends in one.
        root = base.rstrip("/") + (f"/{trial}" if trial else "")
        env["AIP_MODEL_DIR"] = f"{root}/model/"
        env["AIP_CHECKPOINT_DIR"] = f"{root}/checkpoints/"
        env["AIP_TENSORBOARD_LOG_DIR"] = f"{root}/logs/"
    if spec.tensorboard:
        env["AIP_TENSORBOARD_RESOURCE_NAME"] = spec.tensorboard
        env["AIP_TENSORBOARD_API_URI"] = options.tensorboard_api_uri
    # Passed as written: the SDK's reader (aiplatform.metadata) takes a resource
    # name or a short name for both.
    if spec.experiment:
        env["AIP_EXPERIMENT_NAME"] = spec.experiment
    if spec.experiment_run:
        env["AIP_EXPERIMENT_RUN_NAME"] = spec.experiment_run
    return env


def _pytorch_env(
    job: CustomJob, members: list[Replica], replica: Replica, address: Address
) -> dict[str, str]:
    ranked = [
        m for m in members if m.role != "evaluator" and not is_reduction_server_pool(job, m.pool)
    ]
    if replica not in ranked:
        return {}
    host, port = _split_address(address(Replica(0, 0)), Replica(0, 0))
    return {
        "MASTER_ADDR": host,
        "MASTER_PORT": port,
        "WORLD_SIZE": str(len(ranked)),
        "RANK": str(ranked.index(replica)),
    }
