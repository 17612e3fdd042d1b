"""Run one KFP component locally, for tests: a converted CustomJob component on the
executor (every replica), any other container component through kfp.local.

    from cjob_emu.converter import create_custom_training_job_from_component

    from cjob_emu.pipelines import run_component

    train_job = create_custom_training_job_from_component(train, replica_count=3)
    outputs = run_component(
        train_job,
        {"data": dsl.Dataset(uri="gs://bucket/data.csv"), "epochs": 2},
        backend="docker",
        gcs_root=tmp_path / "gcs",
        image_map={"python:3.11": "my/training:dev"},
    )
    model = outputs["model"]             # a dsl.Model; .path is the host file
    assert json.loads(Path(model.path).read_text())["trained_by"] == "workerpool0-0"
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from cjob_emu.errors import ConversionError
from cjob_emu.executor import Backend, RunOptions
from cjob_emu.executor.events import Event
from cjob_emu.pipelines.run import (
    DEFAULT_LOCATION,
    DEFAULT_PROJECT,
    ImageMapLike,
    run_pipeline,
)


def run_component(
    component: Any,
    arguments: Mapping[str, Any] | None = None,
    *,
    backend: str | Backend = "auto",
    gcs_root: str | os.PathLike[str] | None = None,
    image_map: ImageMapLike = None,
    pipeline_root: str | None = None,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    options: RunOptions | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    on_event: Callable[[Event], None] | None = None,
    echo: bool = False,
) -> dict[str, Any]:
    """Run ``component`` once with ``arguments``; its outputs by name.

    Args:
        component: A kfp component: one converted by
            :func:`~cjob_emu.converter.create_custom_training_job_from_component` (ours or
            GCPC's), a ``@dsl.component`` or a container component.
        arguments: Input parameters by name (defaults fill in the rest); input
            artifacts as kfp ``dsl.Artifact`` objects whose ``uri`` is ``gs://...`` or a
            host path inside ``gcs_root``.
        backend, gcs_root, image_map, pipeline_root, project, location, options,
            runs_dir, on_event: As for :func:`~cjob_emu.pipelines.run_pipeline`.
        echo: Show what kfp.local tasks print on stderr.

    Returns:
        Output parameters as Python values; output artifacts as kfp ``dsl.Artifact``
        objects whose ``uri`` and ``path`` are the host file under ``gcs_root``;
        ``gcp_resources`` (JSON text) for a CustomJob component.

    Raises:
        JobFailedError: The task (its CustomJob or container) failed; the message
            says why, with the last lines of the failing replica's log.
        InputError: An unknown or missing argument.
        ConversionError: ``component`` is not a kfp component.
    """
    spec = getattr(component, "pipeline_spec", None)
    if spec is None:
        raise ConversionError(
            f"{type(component).__name__} is not a kfp component: pass what @dsl.component, "
            "@dsl.container_component or create_custom_training_job_from_component returns"
        )
    from google.protobuf import json_format

    run = run_pipeline(
        json_format.MessageToDict(spec),
        arguments,
        backend=backend,
        gcs_root=gcs_root,
        image_map=image_map,
        pipeline_root=pipeline_root,
        project=project,
        location=location,
        options=options,
        runs_dir=runs_dir,
        on_event=on_event,
        echo=echo,
    )
    return run.raise_for_state().outputs
