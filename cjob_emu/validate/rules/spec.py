"""Rules on the CustomJobSpec: pools count, networking, outputs, linked resources."""

from __future__ import annotations

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.hints import closest, with_hint
from cjob_emu.validate.rules.context import POOLS, Context
from cjob_emu.validate.rules.names import (
    CONTEXT,
    GCS_URI,
    MODEL,
    NETWORK,
    PERSISTENT_RESOURCE_ID,
    SERVICE_ACCOUNT,
    TENSORBOARD,
    supported_regions,
)

POOLS_MAX = 4


def location(ctx: Context, out: Findings) -> None:
    """The target location is a Vertex AI region.

    Source: reference section 4 ("The SDK refuses a location that is not a real
    region"); google.cloud.aiplatform.utils.validate_region checks it against
    constants.base.SUPPORTED_REGIONS (and the multi-region jurisdictions). A region
    close to the one given is named (a hint of ours; the SDK lists them all).
    """
    regions = supported_regions()
    if ctx.location is not None and ctx.location not in regions:
        message = f'Unsupported region for Vertex AI: "{ctx.location}".'
        out.error("location", with_hint(message, closest(ctx.location, regions)))


def pool_count(ctx: Context, out: Findings) -> None:
    """At most four worker pools (primary, workers, parameter servers, evaluators).

    Source: reference section 4 ("at most 4 pools"); Vertex docs
    https://cloud.google.com/vertex-ai/docs/training/distributed-training.
    """
    count = len(ctx.pools)
    if count > POOLS_MAX:
        out.error(POOLS, f"At most {POOLS_MAX} worker pools are allowed; got {count}.")


def network_or_psc(ctx: Context, out: Findings) -> None:
    """``network`` and ``psc_interface_config`` exclude each other.

    Source: reference section 4; GCPC refuses it in
    google_cloud_pipeline_components.v1.custom_job.utils
    ("`network` and `psc_interface_config` field cannot be set at the same time.").
    """
    if ctx.spec.network and ctx.spec.HasField("psc_interface_config"):
        out.error(
            "job_spec.psc_interface_config",
            "`network` and `psc_interface_config` cannot be set at the same time.",
        )


def dns_peering(ctx: Context, out: Findings) -> None:
    """A DNS peering domain ends with a dot.

    Source: DnsPeeringConfig.domain docstring ("e.g., "my-internal-domain.corp.".
    Must end with a dot.").
    """
    configs = ctx.spec.psc_interface_config.dns_peering_configs
    for i, config in enumerate(configs):
        if config.domain and not config.domain.endswith("."):
            out.error(
                f"job_spec.psc_interface_config.dns_peering_configs[{i}].domain",
                "`domain` must end with a dot.",
            )


def nfs_needs_network(ctx: Context, out: Findings) -> None:
    """NFS mounts need a peered VPC ``network``.

    Source: reference section 4; https://cloud.google.com/vertex-ai/docs/training/train-nfs-share
    ("you must specify the network" / VPC Network Peering).
    """
    if ctx.spec.network:
        return
    for pool in ctx.active:
        if len(pool.spec.nfs_mounts):
            out.error(
                f"{pool.path}.nfs_mounts", "`nfs_mounts` require `job_spec.network` to be set."
            )


def reserved_ranges_need_network(ctx: Context, out: Findings) -> None:
    """``reserved_ip_ranges`` name ranges of the VPC ``network``.

    Source: CustomJobSpec.reserved_ip_ranges docstring ("reserved ip ranges
    under the VPC network"). Inferred, so a warning.
    """
    if len(ctx.spec.reserved_ip_ranges) and not ctx.spec.network:
        out.warning(
            "job_spec.reserved_ip_ranges",
            "`reserved_ip_ranges` are ranges of the VPC `network`, which is not set.",
        )


def network_name(ctx: Context, out: Findings) -> None:
    """``network`` is ``projects/{project}/global/networks/{network}``, project a number.

    Source: CustomJobSpec.network docstring (the form, "Where {project} is a
    project number"). The form is an error; a project ID instead of a number
    a warning (we cannot tell whether Vertex resolves IDs).
    """
    network = ctx.spec.network
    if not network:
        return
    match = NETWORK.fullmatch(network)
    if match is None:
        out.error(
            "job_spec.network",
            "`network` must have the form projects/{project}/global/networks/{network}.",
        )
    elif not match.group(1).isdigit():
        out.warning(
            "job_spec.network", "The project in `network` should be a project number, as in 12345."
        )


def output_directory(ctx: Context, out: Findings) -> None:
    """``base_output_directory.output_uri_prefix`` is a Cloud Storage URI.

    Source: GcsDestination.output_uri_prefix docstring ("Google Cloud Storage
    URI to output directory").
    """
    prefix = ctx.spec.base_output_directory.output_uri_prefix
    if prefix and GCS_URI.fullmatch(prefix) is None:
        out.error(
            "job_spec.base_output_directory.output_uri_prefix",
            "`output_uri_prefix` must be a Cloud Storage URI (gs://bucket/path).",
        )


def service_account(ctx: Context, out: Findings) -> None:
    """``service_account`` is a service account email.

    Source: CustomJobSpec.service_account docstring (a run-as service account);
    https://cloud.google.com/vertex-ai/docs/general/custom-service-account.
    """
    account = ctx.spec.service_account
    if account and SERVICE_ACCOUNT.fullmatch(account) is None:
        out.error(
            "job_spec.service_account", "`service_account` must be a service account email address."
        )


def tensorboard(ctx: Context, out: Findings) -> None:
    """``tensorboard`` is a Tensorboard resource name, in the job's region, with a service account.

    Source: CustomJobSpec.tensorboard docstring (the format: an error when
    wrong); the SDK's CustomJob.run docstring ("`service_account` is required
    with provided `tensorboard`") and its ValueError "'experiment' and
    'tensorboard' cannot be set together." are client-side checks: warnings,
    as is a Tensorboard in another region (inferred).
    """
    name = ctx.spec.tensorboard
    if not name:
        return
    path = "job_spec.tensorboard"
    match = TENSORBOARD.fullmatch(name)
    if match is None:
        out.error(
            path,
            "`tensorboard` must have the form "
            "projects/{project}/locations/{location}/tensorboards/{tensorboard}.",
        )
    elif ctx.location and match.group(1) != ctx.location:
        out.warning(
            path,
            f"The Tensorboard is in {match.group(1)}, not in the job's region {ctx.location}.",
        )
    if not ctx.spec.service_account:
        out.warning(path, "`service_account` is required with `tensorboard`.")
    if ctx.spec.experiment:
        out.warning(path, "`experiment` and `tensorboard` cannot be set together.")


def experiment(ctx: Context, out: Findings) -> None:
    """``experiment`` and ``experiment_run`` are metadata contexts; a run needs its experiment.

    Source: CustomJobSpec.experiment / experiment_run docstrings (formats, the
    run named ``{experiment-name}-{experiment-run-name}``); the SDK only sets a
    run together with its experiment (CustomJob._get_experiment_and_run_resource_name).
    Whether Vertex checks these at create time is unknown: warnings.
    """
    spec = ctx.spec
    context_form = (
        "projects/{project}/locations/{location}/metadataStores/{metadata_store}/contexts/{name}"
    )
    experiment_match = CONTEXT.fullmatch(spec.experiment) if spec.experiment else None
    if spec.experiment and experiment_match is None:
        out.warning("job_spec.experiment", f"`experiment` should have the form {context_form}.")
    if not spec.experiment_run:
        return
    path = "job_spec.experiment_run"
    if not spec.experiment:
        out.warning(path, "`experiment_run` is set without `experiment`.")
        return
    run_match = CONTEXT.fullmatch(spec.experiment_run)
    if run_match is None:
        out.warning(path, f"`experiment_run` should have the form {context_form}.")
    elif experiment_match is not None and not run_match.group(2).startswith(
        experiment_match.group(2) + "-"
    ):
        out.warning(
            path,
            "`experiment_run` should be named {experiment-name}-{experiment-run-name} "
            "after its `experiment`.",
        )


def models(ctx: Context, out: Findings) -> None:
    """``models`` are Model resource names, optionally with ``@version``.

    Source: CustomJobSpec.models docstring. Inferred: warnings.
    """
    for i, name in enumerate(ctx.spec.models):
        if MODEL.fullmatch(name) is None:
            out.warning(
                f"job_spec.models[{i}]",
                "Model names have the form projects/{project}/locations/{location}/models/{model}"
                "[@version].",
            )


def persistent_resource(ctx: Context, out: Findings) -> None:
    """``persistent_resource_id`` has the shape of a PersistentResource ID.

    Source: CreatePersistentResourceRequest.persistent_resource_id docstring
    (``/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/``). Inferred for jobs: a warning.
    """
    rid = ctx.spec.persistent_resource_id
    if rid and PERSISTENT_RESOURCE_ID.fullmatch(rid) is None:
        out.warning(
            "job_spec.persistent_resource_id",
            "`persistent_resource_id` should be 1 to 63 lowercase letters, digits or dashes, "
            "starting with a letter.",
        )


def protected_artifact_location(ctx: Context, out: Findings) -> None:
    """``protected_artifact_location_id`` names a Vertex AI location.

    Source: CustomJobSpec.protected_artifact_location_id docstring ("e.g.
    us-central1 ... List of supported locations"), checked against the SDK's
    region list. A warning: that list may lag the service.
    """
    where = ctx.spec.protected_artifact_location_id
    if where and where not in supported_regions():
        out.warning(
            "job_spec.protected_artifact_location_id",
            f'"{where}" is not a Vertex AI region the SDK knows.',
        )


RULES = (
    location,
    pool_count,
    network_or_psc,
    dns_peering,
    nfs_needs_network,
    reserved_ranges_need_network,
    network_name,
    output_directory,
    service_account,
    tensorboard,
    experiment,
    models,
    persistent_resource,
    protected_artifact_location,
)
