"""Rules on each worker pool: replicas, the task it runs, its disks and mounts."""

from __future__ import annotations

from typing import Any

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules.context import Context
from cjob_emu.validate.rules.names import (
    C_IDENTIFIER,
    GCS_URI,
    is_image_reference,
    is_python_module,
)

ENV_MAX = 100
PACKAGE_URIS_MAX = 100
ARGS_CHARS_MAX = 100_000
BOOT_DISK_GB = (100, 64_000)
BOOT_DISK_TYPES = ("pd-ssd", "pd-standard", "hyperdisk-balanced")


def primary_pool(ctx: Context, out: Findings) -> None:
    """The first pool is the primary replica: not empty, exactly one replica.

    Source: reference section 4 ("Pool 0 is the primary replica and must have
    replicaCount 1"); CustomJobSpec.worker_pool_specs docstring ("All worker
    pools except the first one are optional"); the SDK refuses more
    (worker_spec_utils: "Chief spec replica count cannot be greater than 1.").
    An unset count is only a warning: Vertex may well take it as 1.
    """
    if not ctx.pools:
        return  # the required-field rule reports the missing pools
    pool = ctx.pools[0]
    if pool.empty:
        out.error(pool.path, "The first worker pool runs the primary replica and cannot be empty.")
        return
    count = pool.spec.replica_count
    path = f"{pool.path}.replica_count"
    if count > 1 or count < 0:
        out.error(path, "The primary worker pool must have `replica_count` 1.")
    elif count == 0:
        out.warning(path, "`replica_count` is not set; the primary worker pool needs 1 replica.")


def replica_counts(ctx: Context, out: Findings) -> None:
    """Other non-empty pools run at least one replica.

    Source: WorkerPoolSpec.replica_count docstring ("The number of worker
    replicas"): a negative number is an error. A non-empty pool with zero
    replicas is a warning: the SDK turns such pools into ``{}``
    (worker_spec_utils._WorkerPoolSpec.is_empty) and we do not know what Vertex
    does with one.
    """
    for pool in ctx.active:
        if pool.index == 0:
            continue
        count = pool.spec.replica_count
        path = f"{pool.path}.replica_count"
        if count < 0:
            out.error(path, "`replica_count` must not be negative.")
        elif count == 0:
            out.warning(
                path, "`replica_count` is 0, so this pool runs nothing; skip a pool with `{}`."
            )


def task(ctx: Context, out: Findings) -> None:
    """Every non-empty pool runs a container or a Python package.

    Source: reference section 4 (required ``containerSpec.imageUri`` or the
    three Python package fields); WorkerPoolSpec oneof ``task``.
    """
    for pool in ctx.active:
        if pool.task is None:
            out.error(pool.path, "One of `container_spec` or `python_package_spec` must be set.")


def _tasks(ctx: Context) -> list[tuple[Any, str]]:
    return [pool.task for pool in ctx.active if pool.task is not None]


def env_vars(ctx: Context, out: Findings) -> None:
    """Environment variables: C identifiers, at most 100, each name once.

    Source: EnvVar.name docstring ("Must be a valid C identifier") and
    ContainerSpec.env / PythonPackageSpec.env docstrings ("Maximum limit is
    100"): errors; reference section 4. A repeated name is a warning: the later
    one silently wins, which is rarely meant.
    """
    for spec, path in _tasks(ctx):
        env = spec.env
        if len(env) > ENV_MAX:
            out.error(
                f"{path}.env",
                f"At most {ENV_MAX} environment variables are allowed; got {len(env)}.",
            )
        first: dict[str, int] = {}
        for i, var in enumerate(env):
            name = var.name
            if not name:
                continue  # the required-field rule reports it
            if C_IDENTIFIER.fullmatch(name) is None:
                out.error(
                    f"{path}.env[{i}].name",
                    f'Environment variable name "{name}" is not a valid C identifier.',
                )
            elif name in first:
                out.warning(
                    f"{path}.env[{i}].name",
                    f"Environment variable `{name}` is already set by `env[{first[name]}]`.",
                )
            else:
                first[name] = i


def args_size(ctx: Context, out: Findings) -> None:
    """All arguments of one pool together at most 100,000 characters.

    Source: reference section 4 ("all args together at most 100,000 characters
    (docs; weaker evidence)"): a warning.
    """
    for spec, path in _tasks(ctx):
        total = sum(len(a) for a in spec.args)
        if total > ARGS_CHARS_MAX:
            out.warning(
                f"{path}.args",
                f"The arguments are {total:,} characters long together; "
                f"at most {ARGS_CHARS_MAX:,} are allowed.",
            )


def image_uri(ctx: Context, out: Findings) -> None:
    """Container images are image references (``host/path/name[:tag][@digest]``).

    Source: ContainerSpec.image_uri / PythonPackageSpec.executor_image_uri
    docstrings ("The URI of a container image"); the grammar of
    github.com/distribution/reference. Whether Vertex refuses a malformed one
    at create time or fails the job later is unknown: a warning.
    """
    for spec, path in _tasks(ctx):
        field = "image_uri" if path.endswith("container_spec") else "executor_image_uri"
        uri = getattr(spec, field)
        if uri and not is_image_reference(uri):
            out.warning(
                f"{path}.{field}", f'"{uri[:200]}" is not a valid container image reference.'
            )


def python_package(ctx: Context, out: Findings) -> None:
    """Python packages: at most 100 Cloud Storage URIs and a module name.

    Source: PythonPackageSpec.package_uris docstring ("The Google Cloud Storage
    location ... The maximum number of package URIs is 100."): the count is an
    error, a URI other than gs:// a warning (Vertex may also read other
    schemes); PythonPackageSpec.python_module ("The Python module name"): a
    warning when it is not a dotted Python name.
    """
    for spec, path in _tasks(ctx):
        if not path.endswith("python_package_spec"):
            continue
        uris = spec.package_uris
        if len(uris) > PACKAGE_URIS_MAX:
            out.error(
                f"{path}.package_uris",
                f"At most {PACKAGE_URIS_MAX} package URIs are allowed; got {len(uris)}.",
            )
        for i, uri in enumerate(uris):
            if uri and GCS_URI.fullmatch(uri) is None:
                out.warning(
                    f"{path}.package_uris[{i}]",
                    "Package URIs should be Cloud Storage URIs (gs://...).",
                )
        module = spec.python_module
        if module and not is_python_module(module):
            out.warning(
                f"{path}.python_module", f'"{module[:200]}" is not a valid Python module name.'
            )


def disk(ctx: Context, out: Findings) -> None:
    """Boot disk: 100 to 64,000 GB, of type pd-ssd, pd-standard or hyperdisk-balanced.

    Source: reference section 4; DiskSpec.boot_disk_type docstring ("Valid
    values: "pd-ssd" ..., "pd-standard" ... or "hyperdisk-balanced"").
    """
    for pool in ctx.active:
        if not pool.spec.HasField("disk_spec"):
            continue
        spec = pool.spec.disk_spec
        path = f"{pool.path}.disk_spec"
        size = spec.boot_disk_size_gb
        low, high = BOOT_DISK_GB
        if size and not low <= size <= high:
            out.error(
                f"{path}.boot_disk_size_gb",
                f"`boot_disk_size_gb` must be between {low} and {high:,}; got {size}.",
            )
        kind = spec.boot_disk_type
        if kind and kind not in BOOT_DISK_TYPES:
            out.error(
                f"{path}.boot_disk_type",
                f"`boot_disk_type` must be one of {', '.join(BOOT_DISK_TYPES)}; "
                f'got "{kind[:100]}".',
            )


def nfs_paths(ctx: Context, out: Findings) -> None:
    """An NFS export path starts with ``/``.

    Source: NfsMount.path docstring ("Has to start with '/'").
    """
    for pool in ctx.active:
        for i, mount in enumerate(pool.spec.nfs_mounts):
            if mount.path and not mount.path.startswith("/"):
                out.error(f"{pool.path}.nfs_mounts[{i}].path", "`path` has to start with '/'.")


RULES = (
    primary_pool,
    replica_counts,
    task,
    env_vars,
    args_size,
    image_uri,
    python_package,
    disk,
    nfs_paths,
)
