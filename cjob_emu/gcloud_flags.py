"""gcloud's flags for custom jobs, read as ``gcloud ai custom-jobs create`` and ``local-run`` do.

So a user can paste the flags of a gcloud command. Pure: strings in, snake_case
WorkerPoolSpec dicts out (proto field names, what :mod:`cjob_emu.spec` loads). Sources:

- ``gcloud ai custom-jobs create``
  (https://cloud.google.com/sdk/gcloud/reference/ai/custom-jobs/create):
  ``--worker-pool-spec=[WORKER_POOL_SPEC,...]``, repeatable, one per pool in order, with
  the keys of :data:`POOL_KEYS`: ``machine-type`` (required), ``replica-count`` (default
  1), ``accelerator-type``, ``accelerator-count`` (default 1 with a type),
  ``container-image-uri``, ``executor-image-uri``, ``output-image-uri``,
  ``python-module``, ``script``, ``local-package-path``, and the ``;``-separated lists
  ``requirements``, ``extra-packages``, ``extra-dirs``; ``--args`` and ``--command``
  (comma lists); ``--python-package-uris``; ``--display-name``; ``--config`` (a
  CustomJobSpec file, read by :mod:`cjob_emu.spec`).
- ``gcloud ai custom-jobs local-run``
  (https://cloud.google.com/sdk/gcloud/reference/ai/custom-jobs/local-run):
  ``--executor-image-uri``, ``--local-package-path`` (default: the current directory),
  ``--script`` or ``--python-module``, ``--requirements``, ``--extra-packages``,
  ``--extra-dirs``, ``--output-image-uri``; the application's arguments after ``--``.
  Without a script or module it runs the executor image as it is.
- ``gcloud topic escaping`` (https://cloud.google.com/sdk/gcloud/reference/topic/escaping):
  list and dict values are comma-separated, ``^DELIM^`` in front picks another delimiter
  (``^:^a,b:c`` is ``['a,b', 'c']``), a dict item splits at its first ``=``.

The rules, as gcloud's command_lib applies them (``custom_jobs/validation.py`` and
``custom_jobs_util.py``; the messages are its own):

- The first ``--worker-pool-spec`` may not be empty; an empty one later is a skipped pool.
- Every other pool names ``machine-type``; ``accelerator-count`` needs ``accelerator-type``.
- Without a local package a pool has exactly one of ``container-image-uri`` and
  ``executor-image-uri``; ``python-module`` goes with (and is required by) the executor
  image; ``script``, ``requirements``, ``extra-packages`` and ``extra-dirs`` need
  ``local-package-path``, which only the first pool may have.
- With ``local-package-path`` (first pool): ``executor-image-uri`` and exactly one of
  ``python-module`` and ``script``. The image built from it runs in every non-empty pool,
  so no other pool names software.
- ``--args`` replaces the args of every pool (container or Python package), ``--command``
  the command of every container pool; a repeated flag adds to the list (gcloud's
  UpdateAction); an empty list changes nothing.

cjob-emu's own additions: ``--env NAME=VALUE`` sets (or replaces) a variable in every
pool's task, and local-run's ``--replica-count N`` runs N replicas of the package:
the primary pool's one and N - 1 in a second pool.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjob_emu.errors import InputError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import CustomJob

FLAG = "--worker-pool-spec"

POOL_KEYS: dict[str, str] = {
    "replica-count": "int",
    "machine-type": "str",
    "accelerator-type": "str",
    "accelerator-count": "int",
    "container-image-uri": "str",
    "executor-image-uri": "str",
    "output-image-uri": "str",
    "python-module": "str",
    "script": "str",
    "local-package-path": "str",
    "requirements": "list",
    "extra-packages": "list",
    "extra-dirs": "list",
}
"""The keys of ``--worker-pool-spec`` and their kinds (``list``: ``;``-separated)."""

_LOCAL_ONLY = ("script", "requirements", "extra-packages", "extra-dirs")
_SOFTWARE = ("executor-image-uri", "container-image-uri", "python-module", *_LOCAL_ONLY)

DEFAULT_MACHINE_TYPE = "n1-standard-4"
"""The machine type of a local-run job (local-run has none; a CustomJob needs one)."""

# Run the package's entrypoint from its directory, as the image's WORKDIR would: $1 is the
# directory, the rest the entrypoint, then the job's args.
_IN_DIRECTORY = 'cd "$1" && shift && exec "$@"'


def split_list(value: str, delimiter: str = ",") -> list[str]:
    """A gcloud list value: items split at ``delimiter`` (or the ``^DELIM^`` given in front);
    one trailing delimiter is ignored and an empty value has no item, as in gcloud."""
    delimiter, value = _delimiter(value, delimiter)
    if not value:
        return []
    if not value.endswith(delimiter):
        value += delimiter
    return value.split(delimiter)[:-1]


def _delimiter(value: str, default: str) -> tuple[str, str]:
    if value.startswith("^"):
        end = value.find("^", 1)
        if end > 1:  # one "^" alone is plain text
            return value[1:end], value[end + 1 :]
    return default, value


def parse_pool(value: str) -> dict[str, Any]:
    """One ``--worker-pool-spec`` value as a dict of typed values (``{}``: a skipped pool).

    InputError for an item without ``=``, an unknown key or a count that is no integer.
    A key given twice keeps its last value, as gcloud's ArgDict does.
    """
    spec: dict[str, Any] = {}
    for item in split_list(value):
        key, sep, text = item.partition("=")
        if not sep:
            raise InputError(
                f"{FLAG} {value!r}: bad syntax for dict arg: [{item}]; write KEY=VALUE"
            )
        kind = POOL_KEYS.get(key)
        if kind is None:
            keys = ", ".join(sorted(POOL_KEYS))
            raise InputError(f"{FLAG} {value!r}: unknown key [{key}]; valid keys are [{keys}]")
        if kind == "int":
            try:
                spec[key] = int(text)
            except ValueError:
                raise InputError(
                    f"{FLAG} {value!r}: [{key}] must be an integer, not {text!r}"
                ) from None
        elif kind == "list":
            spec[key] = split_list(text, ";")
        else:
            spec[key] = text
    return spec


@dataclass(frozen=True)
class LocalPackage:
    """Training code on this machine that gcloud builds into an image on an executor image.

    ``path`` is the package directory as given; ``script`` (a .py file or a shell script)
    and ``python_module`` are relative to it, exactly one of them set.
    """

    path: str
    executor_image_uri: str
    script: str | None = None
    python_module: str | None = None
    requirements: tuple[str, ...] = ()
    extra_packages: tuple[str, ...] = ()
    extra_dirs: tuple[str, ...] = ()
    output_image_uri: str | None = None

    @property
    def main_file(self) -> str:
        """The file that runs, relative to the package (a module as gcloud maps it)."""
        if self.script is not None:
            return posixpath.normpath(self.script)
        return str(self.python_module).replace(".", "/") + ".py"

    @property
    def name(self) -> str:
        """The script's or module's last name (``trainer.task`` -> ``task``)."""
        return posixpath.splitext(posixpath.basename(self.main_file))[0]

    def entrypoint(self) -> list[str]:
        """What the image runs: ``python3 -m MODULE``, ``python3 SCRIPT.py`` or
        ``/bin/bash SCRIPT`` (gcloud's entrypoint, with ``python3`` for every base image)."""
        if self.python_module is not None:
            return ["python3", "-m", self.python_module]
        if self.main_file.endswith(".py"):
            return ["python3", self.main_file]
        return ["/bin/bash", self.main_file]

    def copied_dirs(self) -> list[str]:
        """The directories (relative) the image gets: the main file's, then ``extra_dirs``."""
        dirs = [posixpath.dirname(self.main_file) or "."]
        dirs += [
            posixpath.normpath(d) for d in self.extra_dirs if posixpath.normpath(d) not in dirs
        ]
        return dirs

    def image_uri(self) -> str:
        """The image Vertex would be given (``output-image-uri``, else the executor image)."""
        return self.output_image_uri or self.executor_image_uri

    def host_task(self, directory: str) -> dict[str, Any]:
        """A container_spec that runs the package on the host from ``directory`` (its
        absolute path), for the process backend: no image is built."""
        return {
            "image_uri": self.executor_image_uri,
            "command": ["/bin/sh", "-c", _IN_DIRECTORY, "sh", directory, *self.entrypoint()],
        }


@dataclass(frozen=True)
class PoolFlags:
    """The pools gcloud flags ask for (``{}`` for a skipped one) and the first's local package."""

    pools: tuple[dict[str, Any], ...]
    package: LocalPackage | None = None


def read_pool_flags(values: Sequence[str]) -> PoolFlags:
    """The ``--worker-pool-spec`` values, in order, checked by gcloud's rules."""
    pools = [parse_pool(value) for value in values]
    if not pools or not pools[0]:
        raise InputError(f"{FLAG}: empty value is not allowed for the first {FLAG} flag")
    for pool in pools:
        _check_hardware(pool)
    package = _package(pools[0]) if "local-package-path" in pools[0] else None
    if package is None:
        _check_software(pools[0])
    for pool in pools[1:]:
        if not pool:
            continue
        if package is not None:
            _refuse(
                pool,
                _SOFTWARE,
                "a local package has been specified in the first "
                f"`{FLAG}` flag and to be used for all workers, do not specify these "
                "keys elsewhere",
            )
        elif "local-package-path" in pool:
            raise InputError(
                f"{FLAG}: key [local-package-path] is only allowed in the first `{FLAG}` flag"
            )
        else:
            _check_software(pool)
    return PoolFlags(tuple(pools), package)


def _check_hardware(pool: Mapping[str, Any]) -> None:
    if not pool:
        return
    if "machine-type" not in pool:
        raise InputError(f"{FLAG}: key [machine-type] required in dict arg but not provided")
    if "accelerator-count" in pool and "accelerator-type" not in pool:
        raise InputError(
            f"{FLAG}: key [accelerator-type] required as [accelerator-count] is specified"
        )


def _check_software(pool: Mapping[str, Any]) -> None:
    executor, container = "executor-image-uri" in pool, "container-image-uri" in pool
    if executor == container:
        raise InputError(
            f"{FLAG}: exactly one of keys [executor-image-uri, container-image-uri] is required"
        )
    if container and "python-module" in pool:
        raise InputError(
            f"{FLAG}: key [python-module] is not allowed together with key [container-image-uri]"
        )
    if executor and "python-module" not in pool:
        raise InputError(f"{FLAG}: key [python-module] is required with [executor-image-uri]")
    _refuse(
        pool,
        _LOCAL_ONLY,
        f"only allowed together with `local-package-path` in the first `{FLAG}` flag",
    )


def _refuse(pool: Mapping[str, Any], keys: Iterable[str], reason: str) -> None:
    unexpected = sorted(set(keys) & set(pool))
    if unexpected:
        raise InputError(f"{FLAG}: keys [{', '.join(unexpected)}] are not allowed: {reason}")


def _package(pool: Mapping[str, Any]) -> LocalPackage:
    if "executor-image-uri" not in pool:
        raise InputError(
            f"{FLAG}: key [executor-image-uri] is required when `local-package-path` is specified"
        )
    if ("python-module" in pool) == ("script" in pool):
        raise InputError(
            f"{FLAG}: exactly one of keys [python-module, script] is required when "
            "`local-package-path` is specified"
        )
    return LocalPackage(
        path=pool["local-package-path"],
        executor_image_uri=pool["executor-image-uri"],
        script=pool.get("script"),
        python_module=pool.get("python-module"),
        requirements=tuple(pool.get("requirements", ())),
        extra_packages=tuple(pool.get("extra-packages", ())),
        extra_dirs=tuple(pool.get("extra-dirs", ())),
        output_image_uri=pool.get("output-image-uri"),
    )


def local_run_flags(
    executor_image_uri: str,
    *,
    local_package_path: str = ".",
    script: str | None = None,
    python_module: str | None = None,
    requirements: Sequence[str] = (),
    extra_packages: Sequence[str] = (),
    extra_dirs: Sequence[str] = (),
    output_image_uri: str | None = None,
    replica_count: int = 1,
    machine_type: str = DEFAULT_MACHINE_TYPE,
) -> PoolFlags:
    """local-run's flags as pools: the package (or the executor image alone) in the primary
    pool and, for ``replica_count`` N > 1, N - 1 more replicas in a second pool."""
    if script is not None and python_module is not None:
        raise InputError("--script and --python-module: give one of them, not both")
    if replica_count < 1:
        raise InputError(f"--replica-count {replica_count}: at least 1")
    package = None
    if script is not None or python_module is not None:
        package = LocalPackage(
            path=local_package_path,
            executor_image_uri=executor_image_uri,
            script=script,
            python_module=python_module,
            requirements=tuple(requirements),
            extra_packages=tuple(extra_packages),
            extra_dirs=tuple(extra_dirs),
            output_image_uri=output_image_uri,
        )
    elif requirements or extra_packages or extra_dirs or output_image_uri:
        raise InputError(
            "--script or --python-module is required to build a training image; otherwise "
            "leave out --requirements, --extra-packages, --extra-dirs and --output-image-uri "
            "to run the executor image as it is"
        )
    pool: dict[str, Any] = {"machine-type": machine_type, "replica-count": 1}
    if package is None:
        pool["container-image-uri"] = executor_image_uri
    pools = [pool] if replica_count == 1 else [pool, {**pool, "replica-count": replica_count - 1}]
    return PoolFlags(tuple(pools), package)


def worker_pool_specs(
    flags: PoolFlags,
    *,
    package_task: Mapping[str, Any] | None = None,
    python_package_uris: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The pools as snake_case WorkerPoolSpec dicts, as gcloud builds them.

    ``package_task`` is the container_spec every non-empty pool runs when the first pool
    has a local package: the image built from it, or :meth:`LocalPackage.host_task`
    (default: the image Vertex would be given, enough to validate).
    ``python_package_uris`` go to every Python package pool (InputError when there is none).
    """
    task = None
    if flags.package is not None:
        task = dict(package_task or {"image_uri": flags.package.image_uri()})
    if python_package_uris and (task is not None or not any(_is_python(p) for p in flags.pools)):
        raise InputError(
            "--python-package-uris: no pool takes them (they go to executor-image-uri "
            "pools; gcloud disallows them with container-image-uri or local-package-path)"
        )
    return [_pool(pool, task, python_package_uris) for pool in flags.pools]


def _is_python(spec: Mapping[str, Any]) -> bool:
    return bool(spec) and "container-image-uri" not in spec


def _pool(
    spec: Mapping[str, Any], task: Mapping[str, Any] | None, package_uris: Sequence[str]
) -> dict[str, Any]:
    if not spec:
        return {}
    machine: dict[str, Any] = {"machine_type": spec["machine-type"]}
    if spec.get("accelerator-type"):
        machine["accelerator_type"] = spec["accelerator-type"]
        machine["accelerator_count"] = spec.get("accelerator-count", 1)
    pool: dict[str, Any] = {"machine_spec": machine, "replica_count": spec.get("replica-count", 1)}
    if task is not None:
        pool["container_spec"] = {key: _copied(value) for key, value in task.items()}
    elif "container-image-uri" in spec:
        pool["container_spec"] = {"image_uri": spec["container-image-uri"]}
    else:
        pool["python_package_spec"] = {
            "executor_image_uri": spec["executor-image-uri"],
            "package_uris": list(package_uris),
            "python_module": spec["python-module"],
        }
    return pool


def _copied(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def parse_env(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """``NAME=VALUE`` strings (``--env``) as pairs; InputError for one without a name."""
    env: list[tuple[str, str]] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--env {pair!r}: write NAME=VALUE")
        env.append((name.strip(), value))
    return env


def override_tasks(
    job: CustomJob,
    *,
    args: Sequence[str] = (),
    command: Sequence[str] = (),
    env: Sequence[tuple[str, str]] = (),
) -> None:
    """gcloud's ``--args`` and ``--command`` (and ``--env``) on every pool's task, in place.

    ``args`` replaces a container's or a Python package's args, ``command`` a container's
    command; ``env`` sets each variable, replacing one of the same name. Empty: no change.
    """
    for pool in job.job_spec.worker_pool_specs:
        for kind in ("container_spec", "python_package_spec"):
            if kind not in pool:
                continue
            task = getattr(pool, kind)
            if args:
                task.args = list(args)
            if command and kind == "container_spec":
                task.command = list(command)
            if env:
                task.env = _merged_env([(e.name, e.value) for e in task.env], env)


def _merged_env(
    current: Sequence[tuple[str, str]], changes: Sequence[tuple[str, str]]
) -> list[dict[str, str]]:
    merged = dict(current)
    merged.update(changes)
    return [{"name": name, "value": value} for name, value in merged.items()]
