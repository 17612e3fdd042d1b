"""Which replicas a CustomJob has and every environment variable each one sees (pure).

- :mod:`.env`: replicas, addresses, CLUSTER_SPEC, TF_CONFIG, CLOUD_ML_*, AIP_* and the
  pool's own variables.
- :mod:`.vertex_job`: the values observed on real Vertex jobs that those variables
  carry (the legacy trainer JSON, compact JSON, the service agent, Reduction Server).
"""

from cjob_emu.cluster.env import (
    DEFAULT_PROJECT_NUMBER,
    DEFAULT_REGION,
    DEFAULT_TENSORBOARD_API_URI,
    POOL_ROLES,
    VERTEX_PORT,
    Address,
    ClusterOptions,
    Replica,
    all_replica_envs,
    apply_container_env,
    cluster_spec,
    expand_env_value,
    hostname_hash,
    parse_replica_name,
    pool_env,
    project_number,
    replica_by_name,
    replica_env,
    replicas,
    tf_config,
    vertex_address,
    vertex_hostname,
)

__all__ = [
    "DEFAULT_PROJECT_NUMBER",
    "DEFAULT_REGION",
    "DEFAULT_TENSORBOARD_API_URI",
    "POOL_ROLES",
    "VERTEX_PORT",
    "Address",
    "ClusterOptions",
    "Replica",
    "all_replica_envs",
    "apply_container_env",
    "cluster_spec",
    "expand_env_value",
    "hostname_hash",
    "parse_replica_name",
    "pool_env",
    "project_number",
    "replica_by_name",
    "replica_env",
    "replicas",
    "tf_config",
    "vertex_address",
    "vertex_hostname",
]
