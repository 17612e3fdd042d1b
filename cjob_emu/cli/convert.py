"""``cjob-emu convert COMPONENT -o OUT``: a KFP component as a Vertex CustomJob component.

Its options mirror the converter's parameters one for one; kfp is imported only
when the command runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cjob_emu.errors import InputError
from cjob_emu.optional import require

# (option, type, help): options taking one value; the flag is the name with dashes.
_VALUE_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("display_name", str, "CustomJob display name (default: the component's name)"),
    ("replica_count", int, "replicas in all: the chief plus replica_count-1 workers (default 1)"),
    ("machine_type", str, "machine of every replica (default n1-standard-4)"),
    ("accelerator_type", str, "accelerator, e.g. NVIDIA_TESLA_T4 (default none)"),
    ("accelerator_count", int, "accelerators per replica when a type is given (default 1)"),
    ("boot_disk_type", str, "pd-ssd (default) or pd-standard; '' leaves the disk unset"),
    ("boot_disk_size_gb", int, "boot disk size (default 100)"),
    ("timeout", str, "maximum run time (default 604800s)"),
    ("service_account", str, "service account the replicas run as"),
    ("network", str, "VPC network to peer with, projects/NUMBER/global/networks/NAME"),
    ("encryption_spec_key_name", str, "customer-managed encryption key"),
    ("tensorboard", str, "TensorBoard resource for the logs"),
    ("base_output_directory", str, "gs:// prefix behind AIP_MODEL_DIR and friends"),
    ("persistent_resource_id", str, "PersistentResource to run on (default: the pipeline's)"),
    ("strategy", str, "STANDARD (default), SPOT or FLEX_START"),
    ("max_wait_duration", str, "longest wait for resources with FLEX_START (default 86400s)"),
    ("reservation_affinity_type", str, "NO_RESERVATION, ANY_RESERVATION or SPECIFIC_RESERVATION"),
    ("reservation_affinity_key", str, "reservation label key"),
    ("launcher_image_tag", str, "tag of GCPC's launcher image (default 2.22.0)"),
)


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``convert`` command's arguments: the component file, the output and every option."""
    parser.add_argument("component", metavar="COMPONENT.yaml", help="KFP component YAML")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.yaml", help="where to write the result"
    )
    options = parser.add_argument_group("CustomJob options (GCPC's, same defaults)")
    for name, kind, text in _VALUE_OPTIONS:
        options.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            help=text,
            default=argparse.SUPPRESS,
        )
    for name, text in (
        ("restart_job_on_worker_restart", "restart the whole job when a worker restarts"),
        ("enable_web_access", "interactive shell access to the replicas"),
    ):
        options.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            action="store_true",
            help=text,
            default=argparse.SUPPRESS,
        )
    repeated = (
        ("--reserved-ip-range", "reserved_ip_ranges", "NAME", "a reserved IP range (repeat)"),
        ("--reservation-affinity-value", "reservation_affinity_values", "VALUE", "(repeat)"),
        ("--label", "labels", "KEY=VALUE", "a CustomJob label (repeat)"),
        ("--env", "env", "NAME=VALUE", "an environment variable of every replica (repeat)"),
        ("--nfs-mount", "nfs_mounts", "SERVER:PATH:MOUNT_POINT", "an NFS share (repeat)"),
    )
    for flag, dest, metavar, text in repeated:
        options.add_argument(
            flag, dest=dest, action="append", metavar=metavar, help=text, default=argparse.SUPPRESS
        )
    options.add_argument(
        "--psc-interface-config",
        metavar="JSON",
        default=argparse.SUPPRESS,
        help='Private Service Connect interface, e.g. \'{"network_attachment": "..."}\'',
    )
    beyond = parser.add_argument_group("beyond GCPC")
    beyond.add_argument(
        "--worker-pool-specs",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="JSON/YAML: a list of pools in role order, or a mapping of chief, workers, "
        "parameter_servers, evaluator to pools; a pool's unset image, command and args "
        "come from the component",
    )
    beyond.add_argument(
        "--executor-image-uri", metavar="IMAGE", help="Python package training: executor image"
    )
    beyond.add_argument(
        "--package-uri",
        dest="package_uris",
        action="append",
        metavar="GS_URI",
        help="Python package training: a package (repeat)",
    )
    beyond.add_argument("--python-module", metavar="MODULE", help="Python package training")
    beyond.add_argument(
        "--location",
        dest="validate_location",
        default=argparse.SUPPRESS,
        help="region to validate the pools against",
    )


def add_parser(commands: Any) -> None:
    """Add ``convert`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "convert",
        help="wrap a KFP component as a Vertex CustomJob component",
        description="Like GCPC's create_custom_training_job_from_component, with its defects "
        "fixed, plus different pools per role and Python package training.",
    )
    add_convert_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Convert the component file with the options given and write the result."""
    require("kfp", "cjob-emu convert")
    # imported on use: kfp is optional (checked just above) and slow to load
    from kfp import compiler, components

    from cjob_emu.converter.component import create_custom_training_job_from_component

    component = _load_component(args.component, components)
    options = _options(args, create_custom_training_job_from_component)
    converted = create_custom_training_job_from_component(component, **options)
    try:
        compiler.Compiler().compile(converted, args.output)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot be written: {exc.strerror}") from None
    print(f"wrote {args.output}: {converted.name!r} runs as a Vertex CustomJob", file=sys.stdout)
    return 0


def _load_component(path: str, components: Any) -> Any:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return components.load_component_from_file(str(p))
    except Exception as exc:  # kfp raises many types for a bad file; all mean the same here
        raise InputError(f"{p}: not a KFP component: {exc}") from None


def _options(args: argparse.Namespace, converter: Any) -> dict[str, Any]:
    known = {*inspect.signature(converter).parameters, *_PACKAGE}
    given = {k: v for k, v in vars(args).items() if k in known and v is not None}
    package = {name: given.pop(name, None) for name in _PACKAGE}
    if any(package.values()):
        missing = [f"--{k.replace('_', '-')}" for k, v in package.items() if not v]
        if missing:
            raise InputError(
                "Python package training needs --executor-image-uri, --package-uri and "
                f"--python-module; missing {', '.join(missing)}"
            )
        given["python_package"] = package
    for name in ("labels", "env"):
        if name in given:
            pairs = [_pair(item, name) for item in given[name]]
            given[name] = (
                dict(pairs) if name == "labels" else [{"name": k, "value": v} for k, v in pairs]
            )
    if "nfs_mounts" in given:
        given["nfs_mounts"] = [_nfs_mount(item) for item in given["nfs_mounts"]]
    if "psc_interface_config" in given:
        given["psc_interface_config"] = _json_object(given["psc_interface_config"])
    if "worker_pool_specs" in given:
        given["worker_pool_specs"] = _pools_file(given["worker_pool_specs"])
    return given


_PACKAGE = ("executor_image_uri", "package_uris", "python_module")


def _pair(item: str, name: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        flag = "--label" if name == "labels" else "--env"
        raise InputError(f"{flag} {item!r}: expected NAME=VALUE")
    return key, value


def _nfs_mount(item: str) -> dict[str, str]:
    parts = item.split(":")
    if len(parts) != 3 or not all(parts):
        raise InputError(f"--nfs-mount {item!r}: expected SERVER:PATH:MOUNT_POINT")
    server, path, mount_point = parts
    return {"server": server, "path": path, "mount_point": mount_point}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--psc-interface-config: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError("--psc-interface-config: expected a JSON object")
    return value


def _pools_file(path: str) -> Any:
    p = Path(path)
    try:
        value = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--worker-pool-specs {p}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"--worker-pool-specs {p}: not JSON or YAML: {exc}") from None
    if isinstance(value, Mapping) and "worker_pool_specs" in value:
        value = value["worker_pool_specs"]
    if not isinstance(value, (list, Mapping)):
        raise InputError(
            f"--worker-pool-specs {p}: expected a list of pools or a mapping of roles to pools"
        )
    return value
