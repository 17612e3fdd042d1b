"""gcloud's flags on ``run`` and ``validate``, so a gcloud command's flags can be pasted.

``gcloud ai custom-jobs create``'s (``--worker-pool-spec``, ``--config``, ``--args``...)
and ``local-run``'s (``--executor-image-uri``, ``--local-package-path``, ``--script``...),
read by :mod:`cjob_emu.gcloud_flags` with gcloud's syntax and rules, and turned here
(with a job FILE, if any) into the one CustomJob that runs or is validated.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cjob_emu.errors import InputError
from cjob_emu.gcloud_flags import (
    DEFAULT_MACHINE_TYPE,
    LocalPackage,
    PoolFlags,
    local_run_flags,
    override_tasks,
    parse_env,
    read_pool_flags,
    split_list,
    worker_pool_specs,
)

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import CustomJob

    from cjob_emu.validate import ValidationReport

PackageTask = Callable[[LocalPackage], Mapping[str, Any]]
"""How a local package runs: the container_spec of its pools."""

_LOCAL_RUN = ("executor_image_uri", "local_package_path", "script", "python_module")


def add_create_options(parser: argparse.ArgumentParser) -> None:
    """``gcloud ai custom-jobs create``'s job flags, and ``--env``."""
    group = parser.add_argument_group(
        "gcloud ai custom-jobs create flags",
        "A job from gcloud's flags, with or without a FILE (its pools replaced by "
        "--worker-pool-spec): lists are comma-separated, ^DELIM^ in front picks another "
        "delimiter (gcloud topic escaping).",
    )
    group.add_argument("--config", metavar="FILE", help="the job file, as gcloud's --config")
    group.add_argument(
        "--worker-pool-spec",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="one pool, in order (repeatable; empty: a skipped pool): machine-type, "
        "replica-count, accelerator-type, accelerator-count, container-image-uri, or "
        "executor-image-uri with python-module, or local-package-path with script or "
        "python-module (built into an image, as gcloud does), requirements, extra-packages, "
        "extra-dirs (;-separated), output-image-uri",
    )
    group.add_argument("--display-name", help="the job's display name (default: the file name)")
    group.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="ARG,...",
        help="the args of every pool's container or Python package (repeatable: they add up)",
    )
    group.add_argument(
        "--command",
        action="append",
        default=[],
        # not `command`: the CLI's parser keeps the subcommand's name there
        dest="container_command",
        metavar="COMMAND,...",
        help="the command of every pool's container (repeatable: they add up)",
    )
    group.add_argument(
        "--python-package-uris",
        metavar="URI,...",
        help="the packages of every executor-image-uri pool",
    )
    group.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every pool's task (repeatable; replaces one "
        "of the same name)",
    )


def add_local_run_options(parser: argparse.ArgumentParser) -> None:
    """``gcloud ai custom-jobs local-run``'s flags, plus the replicas to run."""
    group = parser.add_argument_group(
        "gcloud ai custom-jobs local-run flags",
        "Run your code as local-run does: the script or module of --local-package-path is "
        "built into a local image on --executor-image-uri (which must be on the engine; "
        "cached by content), or, on the process backend, run on this host from that "
        "directory; the application's arguments go after --.",
    )
    group.add_argument("--executor-image-uri", metavar="IMAGE", help="the base image")
    group.add_argument(
        "--local-package-path", metavar="DIR", help="the code's directory (default: here)"
    )
    group.add_argument("--script", help="the file to run, under DIR (.py, else bash)")
    group.add_argument("--python-module", metavar="MODULE", help="the module to run, under DIR")
    group.add_argument("--requirements", metavar="REQ,...", help="pip-installed in the image")
    group.add_argument(
        "--extra-packages", metavar="FILE,...", help="package archives under DIR, pip-installed"
    )
    group.add_argument("--extra-dirs", metavar="DIR,...", help="more directories under DIR")
    group.add_argument("--output-image-uri", metavar="IMAGE", help="the built image's tag")
    group.add_argument(
        "--replica-count",
        type=int,
        default=1,
        metavar="N",
        help="replicas: the primary one and N - 1 workers (default: 1)",
    )
    group.add_argument(
        "--machine-type",
        default=DEFAULT_MACHINE_TYPE,
        help=f"of every replica (default: {DEFAULT_MACHINE_TYPE})",
    )


def local_run_requested(args: argparse.Namespace) -> bool:
    """True when any of local-run's flags is given."""
    return any(getattr(args, name, None) is not None for name in _LOCAL_RUN)


def job_flags_given(args: argparse.Namespace) -> bool:
    """True when flags change or make the job (beyond its display name)."""
    return bool(
        local_run_requested(args)
        or args.worker_pool_spec
        or args.args
        or args.container_command
        or args.env
        or args.python_package_uris
    )


def pool_flags(args: argparse.Namespace) -> PoolFlags | None:
    """The pools of ``--worker-pool-spec`` or of local-run's flags; None for neither."""
    if local_run_requested(args):
        if args.worker_pool_spec:
            raise InputError("--worker-pool-spec and local-run's flags: give one or the other")
        if args.executor_image_uri is None:
            raise InputError("--executor-image-uri is required with local-run's flags")
        return local_run_flags(
            args.executor_image_uri,
            local_package_path=args.local_package_path or ".",
            script=args.script,
            python_module=args.python_module,
            requirements=split_list(args.requirements or ""),
            extra_packages=split_list(args.extra_packages or ""),
            extra_dirs=split_list(args.extra_dirs or ""),
            output_image_uri=args.output_image_uri,
            replica_count=args.replica_count,
            machine_type=args.machine_type,
        )
    if args.worker_pool_spec:
        return read_pool_flags(args.worker_pool_spec)
    return None


def build_job(
    args: argparse.Namespace,
    document: Mapping[str, Any] | None,
    source: str | None,
    *,
    package_task: PackageTask | None = None,
    app_args: Sequence[str] = (),
) -> CustomJob:
    """The CustomJob of ``document`` (read from ``source``) and the flags, as gcloud makes it.

    ``package_task`` says how a local package runs (default: the image Vertex would be
    given, enough to validate). InputError when there is neither a document nor pools.
    """
    # imported on use: the job types load aiplatform (~1 s; see cli.validate)
    from cjob_emu.spec import (
        DEFAULT_DISPLAY_NAME,
        as_custom_job,
        job_from_mapping,
        load_document,
        with_worker_pool_specs,
    )

    flags = pool_flags(args)
    pools = None
    if flags is not None:
        task = package_task(flags.package) if flags.package and package_task else None
        uris = split_list(args.python_package_uris or "")
        pools = worker_pool_specs(flags, package_task=task, python_package_uris=uris)
    elif args.python_package_uris:
        raise InputError("--python-package-uris goes with --worker-pool-spec")
    if document is not None:
        job = load_document(as_custom_job(document, display_name=args.display_name, source=source))
        if pools is not None:
            job = with_worker_pool_specs(job, pools)
    elif pools is not None:
        default = flags.package.name if flags and flags.package else DEFAULT_DISPLAY_NAME
        name = args.display_name or default
        job = job_from_mapping({"display_name": name, "job_spec": {"worker_pool_specs": pools}})
    else:
        raise InputError("give a job FILE, --worker-pool-spec, or local-run's --executor-image-uri")
    override_tasks(
        job,
        args=[*_gcloud_list(args.args), *app_args],
        command=_gcloud_list(args.container_command),
        env=parse_env(args.env),
    )
    return job


def _gcloud_list(values: Iterable[str]) -> list[str]:
    return [item for value in values for item in split_list(value)]


def as_written(document: Mapping[str, Any] | None, report: ValidationReport) -> ValidationReport:
    """``report`` with the field paths of ``document`` as written: a CustomJobSpec's
    without ``job_spec.``."""
    # imported on use: the job types load aiplatform (~1 s; see cli.validate)
    from cjob_emu.spec import as_custom_job

    return report if document is None else as_custom_job(document).user_report(report)
