"""What GCPC's CustomJob launcher expects: its image, command, inputs and payload.

A converted component runs on Vertex Pipelines as a task of
``gcr.io/ml-pipeline/google-cloud-pipeline-components``, whose launcher reads
a JSON ``--payload`` (snake_case CustomJob field names, placeholders the
backend fills in) and creates the CustomJob. This module writes that interface
exactly as GCPC 2.22 does, so a converted component runs with GCPC's own image,
and recognises it in compiled pipelines, whoever converted them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob

LAUNCHER_IMAGE_NAME = "gcr.io/ml-pipeline/google-cloud-pipeline-components"
DEFAULT_LAUNCHER_TAG = "2.22.0"
LAUNCHER_MODULE = "google_cloud_pipeline_components.container.v1.custom_job.launcher"
LAUNCHER_COMMAND = ["python3", "-u", "-m", LAUNCHER_MODULE]
GCP_RESOURCES = "gcp_resources"

PROJECT_PLACEHOLDER = "{{$.pipeline_google_cloud_project_id}}"
LOCATION_PLACEHOLDER = "{{$.pipeline_google_cloud_location}}"
PERSISTENT_RESOURCE_ID_PLACEHOLDER = "{{$.pipeline_persistent_resource_id}}"


@dataclass(frozen=True)
class JobInput:
    """One input of the CustomJob component: its KFP type, default, and where the
    launcher's payload puts it (a dotted CustomJob field path; None for launcher args)."""

    name: str
    parameter_type: str
    default: Any
    field: str | None
    description: str

    @property
    def quoted(self) -> bool:
        """True when the payload puts the value between quotes, unescaped."""
        return self.parameter_type == "STRING"


# Order and defaults of GCPC's ``custom_training_job`` (CustomTrainingJobOp).
JOB_INPUTS: tuple[JobInput, ...] = (
    JobInput("display_name", "STRING", None, "display_name", "The name of the CustomJob."),
    JobInput(
        "location",
        "STRING",
        LOCATION_PLACEHOLDER,
        None,
        "Location of the CustomJob; by default the pipeline's location.",
    ),
    JobInput(
        "worker_pool_specs",
        "LIST",
        [],
        "job_spec.worker_pool_specs",
        "The worker pools as snake_case JSON; empty pools after the first are dropped.",
    ),
    JobInput("timeout", "STRING", "604800s", "job_spec.scheduling.timeout", "Maximum run time."),
    JobInput(
        "restart_job_on_worker_restart",
        "BOOLEAN",
        False,
        "job_spec.scheduling.restart_job_on_worker_restart",
        "Restart the whole job when a worker restarts.",
    ),
    JobInput(
        "service_account",
        "STRING",
        "",
        "job_spec.service_account",
        "Service account the replicas run as.",
    ),
    JobInput("tensorboard", "STRING", "", "job_spec.tensorboard", "TensorBoard resource for logs."),
    JobInput(
        "enable_web_access",
        "BOOLEAN",
        False,
        "job_spec.enable_web_access",
        "Interactive shell access to the replicas.",
    ),
    JobInput("network", "STRING", "", "job_spec.network", "VPC network to peer with."),
    JobInput(
        "reserved_ip_ranges",
        "LIST",
        [],
        "job_spec.reserved_ip_ranges",
        "Reserved IP ranges of the network.",
    ),
    JobInput(
        "base_output_directory",
        "STRING",
        "",
        "job_spec.base_output_directory.output_uri_prefix",
        "Cloud Storage prefix behind AIP_MODEL_DIR and friends.",
    ),
    JobInput("labels", "STRUCT", {}, "labels", "Labels of the CustomJob."),
    JobInput(
        "encryption_spec_key_name",
        "STRING",
        "",
        "encryption_spec.kms_key_name",
        "Customer-managed encryption key.",
    ),
    JobInput(
        "persistent_resource_id",
        "STRING",
        PERSISTENT_RESOURCE_ID_PLACEHOLDER,
        "job_spec.persistent_resource_id",
        "PersistentResource to run on; by default the pipeline's.",
    ),
    JobInput(
        "project",
        "STRING",
        PROJECT_PLACEHOLDER,
        None,
        "Project of the CustomJob; by default the pipeline's project.",
    ),
    JobInput(
        "strategy", "STRING", "STANDARD", "job_spec.scheduling.strategy", "Scheduling strategy."
    ),
    JobInput(
        "max_wait_duration",
        "STRING",
        "86400s",
        "job_spec.scheduling.max_wait_duration",
        "Longest wait for resources (FLEX_START only).",
    ),
    JobInput(
        "psc_interface_config",
        "STRUCT",
        {},
        "job_spec.psc_interface_config",
        "Private Service Connect interface.",
    ),
)
JOB_INPUTS_BY_NAME: Mapping[str, JobInput] = {i.name: i for i in JOB_INPUTS}
RESERVED_NAMES = frozenset([*JOB_INPUTS_BY_NAME, GCP_RESOURCES])
"""Names a wrapped component's own inputs and outputs may not use."""

# The payload's key order, as GCPC writes it; values are input names.
_PAYLOAD_ORDER = (
    "display_name",
    "worker_pool_specs",
    "timeout",
    "restart_job_on_worker_restart",
    "strategy",
    "max_wait_duration",
    "service_account",
    "tensorboard",
    "enable_web_access",
    "network",
    "reserved_ip_ranges",
    "base_output_directory",
    "persistent_resource_id",
    "psc_interface_config",
    "labels",
    "encryption_spec_key_name",
)


def input_placeholder(name: str) -> str:
    """The KFP placeholder of input parameter ``name``."""
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def output_file_placeholder(name: str) -> str:
    """The KFP placeholder of the file output parameter ``name`` is written to."""
    return f"{{{{$.outputs.parameters['{name}'].output_file}}}}"


def payload_template() -> str:
    """The launcher's ``--payload``: JSON text with one placeholder per job input,
    quoted for string inputs and bare for the others (the backend writes JSON there).

    Each key path is checked against the CustomJob message, so a field renamed in
    ``google.cloud.aiplatform_v1`` fails here instead of on Vertex.
    """
    payload: dict[str, Any] = {}
    bare: list[str] = []
    for name in _PAYLOAD_ORDER:
        job_input = JOB_INPUTS_BY_NAME[name]
        assert job_input.field is not None
        node = payload
        *parents, leaf = _checked_path(job_input.field)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = input_placeholder(name)
        if not job_input.quoted:
            bare.append(name)
    text = json.dumps(payload)
    for name in bare:
        text = text.replace(json.dumps(input_placeholder(name)), input_placeholder(name))
    return text


def launcher_container(tag: str = DEFAULT_LAUNCHER_TAG) -> dict[str, Any]:
    """The executor of a CustomJob component, as pipeline-spec JSON."""
    return {
        "image": f"{LAUNCHER_IMAGE_NAME}:{tag}",
        "command": list(LAUNCHER_COMMAND),
        "args": [
            "--type",
            "CustomJob",
            "--payload",
            payload_template(),
            "--project",
            input_placeholder("project"),
            "--location",
            input_placeholder("location"),
            "--gcp_resources",
            output_file_placeholder(GCP_RESOURCES),
        ],
    }


def is_launcher_container(container: Mapping[str, Any]) -> bool:
    """True for an executor that runs GCPC's CustomJob launcher (ours or GCPC's)."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    return LAUNCHER_MODULE in command and launcher_arg(args, "--type") == "CustomJob"


def launcher_arg(args: list[str], flag: str) -> str | None:
    """The value after ``flag`` in the launcher's args (``--flag=value`` too)."""
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if isinstance(arg, str) and arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _checked_path(dotted: str) -> list[str]:
    desc = CustomJob.pb().DESCRIPTOR
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        field = desc.fields_by_name.get(part) if _SNAKE.match(part) else None
        if field is None:
            raise LookupError(f"CustomJob has no field {'.'.join(parts[: i + 1])}")
        if i < len(parts) - 1:
            desc = field.message_type
    return parts
