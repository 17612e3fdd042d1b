"""Removing the containers and networks of a run, and those of runs whose owner died.

Every resource carries the run's labels (:func:`cjob_emu.executor.backend.owner_labels`:
run id, host, owner pid and its start time, run directory), so a later run can tell the
leftovers of a dead process from the live resources of another one, such as a parallel
test worker, remove only the former, and mark the dead run's ``job.json`` FAILED.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from docker.errors import APIError, NotFound

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_RUN, owner_alive
from cjob_emu.executor.run_records import fail_dead_run


def run_selector(run_id: str) -> dict[str, list[str]]:
    """The engine filter that selects every resource of run ``run_id``."""
    return {"label": [f"{LABEL_RUN}={run_id}"]}


def network_gateway(client: Any, network_id: str) -> str:
    """The IPv4 address of the host on network ``network_id`` (its bridge's gateway).

    Replicas on the network reach a server of the host listening there. Raises
    :class:`EnvironmentProblem` when the network has no IPv4 subnet.
    """
    ipam = client.api.inspect_network(network_id).get("IPAM") or {}
    for config in ipam.get("Config") or []:
        gateway = config.get("Gateway") or ""
        subnet = config.get("Subnet") or ""
        try:
            if gateway and ipaddress.ip_address(gateway).version == 4:
                return str(gateway)
            network = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            continue
        if network.version == 4:
            # The engine leaves Gateway out for some drivers; the bridge takes the first host.
            return str(next(network.hosts()))
    raise EnvironmentProblem(
        f"the run's network {network_id[:12]} has no IPv4 subnet, so replicas cannot "
        "reach this host; check the Docker engine's default-address-pools"
    )


def remove_containers(client: Any, ids: Iterable[str]) -> list[str]:
    """Force-remove containers in parallel; the ids actually removed by this call."""
    ids = list(ids)
    if not ids:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:
        # v=True: anonymous volumes an image declares go with the container.
        done = list(
            pool.map(
                lambda cid: _removed(partial(client.api.remove_container, cid, force=True, v=True)),
                ids,
            )
        )
    return [cid for cid, removed in zip(ids, done, strict=True) if removed]


def remove_networks(client: Any, ids: Iterable[str]) -> list[str]:
    """Remove networks; the ids actually removed by this call."""
    return [nid for nid in ids if _removed(partial(client.api.remove_network, nid))]


def remove_run(client: Any, run_id: str) -> list[str]:
    """Remove every container, then every network, labelled with run ``run_id``."""
    selector = run_selector(run_id)
    containers = client.api.containers(all=True, quiet=True, filters=selector)
    removed = remove_containers(client, (c["Id"] for c in containers))
    networks = client.api.networks(filters=selector)
    return removed + remove_networks(client, (n["Id"] for n in networks))


def cleanup_dead(client: Any, *, host: str | None = None) -> list[str]:
    """Remove the resources on ``host`` (default: this one) whose owning process is dead.

    Resources of live processes, of other hosts, and of this process are left alone.
    Returns a line per removed resource: kind, name and the run it belonged to; and one
    per dead run whose ``job.json`` it marked FAILED (:func:`fail_dead_run`).
    """
    host = host or socket.gethostname()
    selector = {"label": [f"{LABEL_HOST}={host}"]}
    dead: dict[tuple[str, str], bool] = {}

    def owner_dead(labels: Mapping[str, str]) -> bool:
        if labels.get(LABEL_PID) == str(os.getpid()):
            return False
        key = (labels.get(LABEL_PID, ""), labels.get(LABEL_PID_START, ""))
        if key not in dead:
            dead[key] = not owner_alive(labels)
        return dead[key]

    containers = [
        c
        for c in client.api.containers(all=True, filters=selector)
        if owner_dead(c.get("Labels") or {})
    ]
    removed_containers = set(remove_containers(client, (c["Id"] for c in containers)))
    networks = [
        n for n in client.api.networks(filters=selector) if owner_dead(n.get("Labels") or {})
    ]
    removed_networks = set(remove_networks(client, (n["Id"] for n in networks)))
    report = [
        _describe("container", c["Names"][0].lstrip("/") if c.get("Names") else c["Id"][:12], c)
        for c in containers
        if c["Id"] in removed_containers
    ]
    report += [
        _describe("network", n.get("Name") or n["Id"][:12], n)
        for n in networks
        if n["Id"] in removed_networks
    ]
    # Every dead run found, also one whose resources a concurrent cleanup removed first.
    runs = {
        labels.get(LABEL_RUN): labels
        for labels in (r.get("Labels") or {} for r in [*containers, *networks])
    }
    report += [line for labels in runs.values() if (line := fail_dead_run(labels))]
    return report


def _describe(kind: str, name: str, resource: Mapping[str, Any]) -> str:
    labels = resource.get("Labels") or {}
    return (
        f"removed {kind} {name} (run {labels.get(LABEL_RUN, '?')}, "
        f"dead process {labels.get(LABEL_PID, '?')})"
    )


def _removed(remove: Callable[[], object]) -> bool:
    """Run a removal; False when the resource is gone already or being removed by another."""
    try:
        remove()
    except NotFound:
        return False
    except APIError as exc:
        # 409: another process (a concurrent cleanup) is removing it right now.
        if exc.status_code == 409:
            return False
        raise
    return True
