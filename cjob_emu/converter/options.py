"""The converter's options: type checks, the worker pools they build, the job inputs' defaults.

Pools come in two shapes. GCPC's: one pool of the component's container and,
with ``replica_count > 1``, a copy holding the other replicas, every pool on
the same machine, written key for key as GCPC writes them so the converted
component compiles to the same pipeline spec. Ours: ``worker_pool_specs``,
one pool per role (chief, workers, parameter servers, evaluator), each with
its own machine, disk, replica count, image or Python package; what a pool
leaves unset of the container (image, command, args) comes from the component.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, CustomJobSpec, PythonPackageSpec, WorkerPoolSpec
from google.protobuf import json_format

from cjob_emu.errors import ConversionError, InvalidJobError
from cjob_emu.launcher.placeholders import escape_executor_input, remove_empty
from cjob_emu.spec import job_from_mapping, worker_pool_specs

ROLES = ("chief", "workers", "parameter_servers", "evaluator")
"""The pools' roles, in the order of ``worker_pool_specs``."""

POOL_OPTIONS = (
    "replica_count",
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "boot_disk_type",
    "boot_disk_size_gb",
    "env",
    "nfs_mounts",
    "reservation_affinity_type",
    "reservation_affinity_key",
    "reservation_affinity_values",
    "python_package",
)
"""Options that shape GCPC's pools; ``worker_pool_specs`` replaces them all."""


@dataclass(frozen=True)
class Container:
    """What the wrapped component runs, ready for a pool: rendered and escaped."""

    image: str
    command: list[str]
    args: list[str]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_str_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_dict_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_str_dict(v) for v in value)


def _is_env(value: Any) -> bool:
    if _is_str_dict(value):
        return True
    return _is_dict_list(value) and all(set(v) == {"name", "value"} for v in value)


def _is_json_object(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


def _is_package(value: Any) -> bool:
    return isinstance(value, (PythonPackageSpec, Mapping))


def _is_pools(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) for k in value)
    return isinstance(value, (list, tuple))


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "display_name": (_is_str, "a string"),
    "replica_count": (_is_int, "an int"),
    "machine_type": (_is_str, "a string"),
    "accelerator_type": (_is_str, "a string such as 'NVIDIA_TESLA_T4'"),
    "accelerator_count": (_is_int, "an int"),
    "boot_disk_type": (_is_str, "a string"),
    "boot_disk_size_gb": (_is_int, "an int"),
    "timeout": (_is_str, "a duration string such as '3600s'"),
    "restart_job_on_worker_restart": (_is_bool, "a bool"),
    "service_account": (_is_str, "a string"),
    "network": (_is_str, "a string"),
    "encryption_spec_key_name": (_is_str, "a string"),
    "tensorboard": (_is_str, "a string"),
    "enable_web_access": (_is_bool, "a bool"),
    "reserved_ip_ranges": (_optional(_is_str_list), "a list of strings or None"),
    "nfs_mounts": (
        _optional(_is_dict_list),
        "a list of {'server', 'path', 'mount_point'} dicts or None",
    ),
    "base_output_directory": (_is_str, "a string"),
    "labels": (_optional(_is_str_dict), "a dict of strings or None"),
    "persistent_resource_id": (_is_str, "a string"),
    "env": (
        _optional(_is_env),
        "a list of {'name': ..., 'value': ...} dicts, a dict of strings, or None",
    ),
    "strategy": (_is_str, "a string such as 'STANDARD', 'SPOT' or 'FLEX_START'"),
    "max_wait_duration": (_is_str, "a duration string such as '86400s'"),
    "reservation_affinity_type": (_optional(_is_str), "a string or None"),
    "reservation_affinity_key": (_optional(_is_str), "a string or None"),
    "reservation_affinity_values": (_optional(_is_str_list), "a list of strings or None"),
    "psc_interface_config": (_optional(_is_json_object), "a dict or None"),
    "worker_pool_specs": (
        _optional(_is_pools),
        "a list of pools (WorkerPoolSpec, dict or None) or a dict of pools by role",
    ),
    "python_package": (_optional(_is_package), "a PythonPackageSpec, a dict or None"),
    "launcher_image_tag": (_is_str, "a string such as '2.22.0'"),
    "validate_location": (_optional(_is_str), "a string or None"),
}


def check_types(options: Mapping[str, Any]) -> None:
    """Raise :class:`ConversionError` naming every option of the wrong type."""
    wrong = []
    for name, value in options.items():
        check, expected = _CHECKS[name]
        if not check(value):
            wrong.append(f"{name} must be {expected}, not {type(value).__name__} {value!r}")
    if wrong:
        raise ConversionError("; ".join(wrong))


def check_values(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Refuse option combinations that cannot work, before any pool is built."""
    if options["network"] and options["psc_interface_config"]:
        raise ConversionError(
            "network and psc_interface_config cannot both be set: a CustomJob peers with "
            "a VPC network or uses a Private Service Connect interface, not both"
        )
    if options["replica_count"] < 1:
        raise ConversionError(
            f"replica_count must be at least 1 (the chief), not {options['replica_count']}"
        )
    if options["worker_pool_specs"] is not None:
        clashing = [n for n in POOL_OPTIONS if options[n] != defaults[n]]
        if clashing:
            raise ConversionError(
                "worker_pool_specs sets every pool, so "
                + ", ".join(clashing)
                + " cannot be given with it; set them inside the pools instead"
            )


def env_list(env: Any) -> list[dict[str, str]]:
    """``env`` as the pools' list of ``{"name", "value"}`` (a dict keeps its order)."""
    if env is None:
        return []
    if isinstance(env, Mapping):
        return [{"name": k, "value": v} for k, v in env.items()]
    return [dict(item) for item in env]


def gcpc_pools(container: Container, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GCPC's pools: the chief, and the other replicas in a copy of it."""
    machine_spec: dict[str, Any] = {"machine_type": options["machine_type"]}
    if options["accelerator_type"]:
        machine_spec["accelerator_type"] = options["accelerator_type"]
        machine_spec["accelerator_count"] = options["accelerator_count"]
    if options["reservation_affinity_type"] is not None:
        affinity: dict[str, Any] = {
            "reservation_affinity_type": options["reservation_affinity_type"]
        }
        if options["reservation_affinity_key"] is not None:
            affinity["key"] = options["reservation_affinity_key"]
        if options["reservation_affinity_values"] is not None:
            affinity["values"] = list(options["reservation_affinity_values"])
        machine_spec["reservation_affinity"] = affinity
    pool: dict[str, Any] = {"machine_spec": machine_spec, "replica_count": 1}
    env = env_list(options["env"])
    if options["python_package"] is not None:
        package = package_dict(options["python_package"])
        package.setdefault("args", list(container.args))
        package["args"] = escape_executor_input(package["args"])
        package["env"] = env
        pool["python_package_spec"] = package
    else:
        pool["container_spec"] = {
            "image_uri": container.image,
            "command": list(container.command),
            "args": list(container.args),
            "env": env,
        }
    if options["boot_disk_type"]:
        pool["disk_spec"] = {
            "boot_disk_type": options["boot_disk_type"],
            "boot_disk_size_gb": options["boot_disk_size_gb"],
        }
    if options["nfs_mounts"]:
        pool["nfs_mounts"] = [dict(m) for m in options["nfs_mounts"]]
    pools = [pool]
    if options["replica_count"] > 1:
        others = copy.deepcopy(pool)
        others["replica_count"] = options["replica_count"] - 1
        pools.append(others)
    return pools


def package_dict(package: PythonPackageSpec | Mapping[str, Any]) -> dict[str, Any]:
    """A PythonPackageSpec as a snake_case dict; a dict is checked against the message."""
    if isinstance(package, Mapping):
        message = PythonPackageSpec.pb()()
        try:
            json_format.ParseDict(dict(package), message)
        except json_format.ParseError as exc:
            raise ConversionError(f"python_package: {exc}") from None
    else:
        message = PythonPackageSpec.pb(package)
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


def custom_pools(container: Container, pools: Any) -> list[dict[str, Any]]:
    """Our pools from ``worker_pool_specs`` (a list, or a dict by role), each filled
    from the component's container where it names none of its own.

    Raises :class:`ConversionError` when an empty pool sits before a pool that is
    not: GCPC's launcher drops empty pools, so the later ones would change roles.
    """
    given = _pools_in_order(pools)
    snake = _as_snake(given)
    while snake and not remove_empty(snake[-1]):
        snake.pop()
    if not snake:
        raise ConversionError("worker_pool_specs has no pool: give at least the chief's")
    for i, pool in enumerate(snake):
        if not remove_empty(pool):
            later = next(j for j in range(i + 1, len(snake)) if remove_empty(snake[j]))
            raise ConversionError(
                f"worker_pool_specs: pool {i} ({_role(i)}) is empty but pool {later} "
                f"({_role(later)}) is not. GCPC's launcher removes empty pools from the "
                f"payload, so on Vertex pool {later} would run as pool {later - 1} "
                f"({_role(later - 1)}). Give pool {i} replicas, or leave out the pools after it."
            )
    return [_filled(pool, container) for pool in snake]


def _pools_in_order(pools: Any) -> list[Any]:
    if not isinstance(pools, Mapping):
        return list(pools)
    unknown = sorted(set(pools) - set(ROLES))
    if unknown:
        raise ConversionError(
            f"worker_pool_specs: unknown role(s) {', '.join(unknown)}; "
            f"the roles are {', '.join(ROLES)}"
        )
    last = max(ROLES.index(role) for role in pools) if pools else -1
    return [pools.get(role) for role in ROLES[: last + 1]]


def _as_snake(pools: list[Any]) -> list[dict[str, Any]]:
    messages: list[WorkerPoolSpec] = []
    for i, pool in enumerate(pools):
        if pool is None:
            messages.append(WorkerPoolSpec())
        elif isinstance(pool, WorkerPoolSpec):
            messages.append(pool)
        elif isinstance(pool, Mapping):
            try:
                job = job_from_mapping({"job_spec": {"worker_pool_specs": [dict(pool)]}})
            except InvalidJobError as exc:
                inside = "job_spec.worker_pool_specs[0]."
                problems = "; ".join(
                    f"pool {i}.{p.field[len(inside) :]}: {p.message}"
                    for p in exc.report.errors
                    if p.field.startswith(inside)
                )
                raise ConversionError(f"worker_pool_specs: {problems}") from None
            messages.append(job.job_spec.worker_pool_specs[0])
        else:
            raise ConversionError(
                f"worker_pool_specs: pool {i} must be a WorkerPoolSpec, a dict or None, "
                f"not {type(pool).__name__}"
            )
    job = CustomJob(job_spec=CustomJobSpec(worker_pool_specs=messages))
    return worker_pool_specs(job)


def _filled(pool: dict[str, Any], container: Container) -> dict[str, Any]:
    pool = copy.deepcopy(pool)
    if "python_package_spec" in pool:
        package = pool["python_package_spec"]
        package["args"] = escape_executor_input(package.get("args") or container.args)
        return pool
    spec = pool.setdefault("container_spec", {})
    spec["image_uri"] = spec.get("image_uri") or container.image
    spec["command"] = escape_executor_input(spec.get("command") or container.command)
    spec["args"] = escape_executor_input(spec.get("args") or container.args)
    return pool


def _role(index: int) -> str:
    return ROLES[index].replace("_", " ") if index < len(ROLES) else f"pool {index}"
