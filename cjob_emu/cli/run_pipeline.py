"""``cjob-emu run PIPELINE.yaml``: the CLI side of running a compiled pipeline locally.

Parses ``--param NAME=VALUE`` by the pipeline's parameter types and
``--artifact NAME=URI_OR_PATH`` for its input artifacts, runs
:func:`~cjob_emu.pipelines.run_pipeline`, streams progress and what the tasks print
on stderr, and ends with a summary (:mod:`.pipeline_console`): every task and its
state (ran, skipped by a condition and which, failed and why, or not run because a
task it depends on failed), how each replica ended and where the logs are, the
outputs, every option ignored locally and every warning. Exit codes: 0 succeeded, 1
a task failed or did not run, 2 bad input. Imported only for a pipeline: it needs kfp.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kfp import dsl

from cjob_emu.cli.pipeline_console import PipelineConsole, print_summary, task_summary
from cjob_emu.cli.replica_options import run_options
from cjob_emu.errors import GcsPathError, InputError
from cjob_emu.executor import DEFAULT_WORK_DIR, ImageMap
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.pipelines.run import DEFAULT_LOCATION, DEFAULT_PROJECT, LaunchWarning, run_pipeline
from cjob_emu.pipelines.scheduler import DEFAULT_MAX_PARALLEL

INPUTS_PREFIX = "gs://cjob-emu/inputs"
"""Where ``--artifact NAME=PATH`` copies a host file outside the gs:// root."""


def parse_params(spec: Mapping[str, Any], pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as typed pipeline arguments: integers, doubles and booleans
    parsed, lists and structs as JSON, strings as they are. InputError names the
    parameter for an unknown name or a value of the wrong type."""
    definitions = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InputError(f"--param {pair!r}: write NAME=VALUE")
        if name not in definitions:
            known = ", ".join(sorted(definitions)) or "none"
            raise InputError(f"--param {name}: the pipeline has no such parameter ({known})")
        kind = definitions[name].get("parameterType", "STRING")
        values[name] = _typed(name, text, kind)
    return values


def parse_artifacts(
    spec: Mapping[str, Any],
    pairs: Sequence[str],
    gcs: GcsRoot,
    say: Any = lambda _: None,
) -> dict[str, Any]:
    """``NAME=gs://B/P`` or ``NAME=PATH`` pairs as the pipeline's input artifacts (kfp
    ``dsl.Artifact`` objects with gs:// URIs). A host path outside the gs:// root is
    copied to ``gs://cjob-emu/inputs/NAME/<file name>`` (said through ``say``).
    InputError names the input for an unknown name or a file that is not there."""
    definitions = spec["root"].get("inputDefinitions", {}).get("artifacts", {})
    artifacts: dict[str, Any] = {}
    for pair in pairs:
        name, sep, where = pair.partition("=")
        if not sep or not name or not where:
            raise InputError(f"--artifact {pair!r}: write NAME=gs://BUCKET/PATH or NAME=PATH")
        if name not in definitions:
            known = ", ".join(sorted(definitions)) or "none"
            raise InputError(
                f"--artifact {name}: the pipeline has no such input artifact ({known})"
            )
        artifacts[name] = dsl.Artifact(name=name, uri=_artifact_uri(name, where, gcs, say))
    return artifacts


def _artifact_uri(name: str, where: str, gcs: GcsRoot, say: Any) -> str:
    if where.startswith("gs://"):
        try:
            local = gcs.local_path(where)
        except GcsPathError as exc:
            raise InputError(f"--artifact {name}={where}: {exc}") from None
        if not local.exists():
            raise InputError(
                f"--artifact {name}={where}: no such file under the gs:// root ({local}); "
                "put it there, or give a host path to have it copied"
            )
        return where
    source = Path(where).resolve()
    if not source.exists():
        raise InputError(f"--artifact {name}={where}: no such file or directory")
    if gcs.holds(source):
        return gcs.uri(source)
    uri = f"{INPUTS_PREFIX}/{name}/{source.name}"
    target = gcs.local_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)
    say(f"--artifact {name}: copied {source} to {uri}")
    return uri


def _typed(name: str, text: str, kind: str) -> Any:
    try:
        if kind == "NUMBER_INTEGER":
            return int(text)
        if kind == "NUMBER_DOUBLE":
            return float(text)
        if kind == "BOOLEAN":
            if text.lower() not in ("true", "false"):
                raise ValueError("not true or false")
            return text.lower() == "true"
        if kind in ("LIST", "STRUCT"):
            value = json.loads(text)
            expected = list if kind == "LIST" else dict
            if not isinstance(value, expected):
                raise ValueError(f"not a JSON {'list' if kind == 'LIST' else 'object'}")
            return value
    except ValueError as exc:
        raise InputError(f"--param {name}={text!r}: {kind} expected ({exc})") from None
    return text


def run_pipeline_file(args: argparse.Namespace, spec: Mapping[str, Any]) -> int:
    """Run the compiled pipeline ``spec`` with the ``run`` command's arguments."""
    if args.timeout is not None:
        raise InputError("--timeout applies to a CustomJob file; a pipeline's jobs keep theirs")
    if args.max_parallel is not None and args.max_parallel < 1:
        raise InputError(f"--max-parallel {args.max_parallel}: give 1 or more")

    console = PipelineConsole(sys.stderr)
    arguments = parse_params(spec, args.param)
    gcs = GcsRoot.at(args.gcs_root if args.gcs_root is not None else DEFAULT_WORK_DIR / "gcs")
    arguments.update(parse_artifacts(spec, args.artifact, gcs, console.say))
    options = run_options(args)
    with warnings.catch_warnings():
        # said at once through say(), and again in the summary
        warnings.simplefilter("ignore", LaunchWarning)
        run = run_pipeline(
            spec,
            arguments,
            backend=args.backend,
            gcs_root=gcs.path,
            image_map=ImageMap.load(args.image_map_file, args.image_map),
            pipeline_root=args.pipeline_root,
            project=args.project or DEFAULT_PROJECT,
            location=args.location or DEFAULT_LOCATION,
            options=options,
            runs_dir=args.run_dir,
            max_restarts=args.max_restarts,
            on_event=console.on_event,
            say=console.say,
            echo=console.on_task_line,
            strict=args.strict,
            max_parallel=args.max_parallel or DEFAULT_MAX_PARALLEL,
        )
    console.finish()
    summary = {
        "run": run.name,
        "succeeded": run.succeeded,
        "outputs": {k: _shown(v) for k, v in run.outputs.items()},
        "tasks": {t.name: task_summary(t) for t in run.tasks.values()},
        "ignored": list(run.ignored),
        "warnings": list(run.warnings),
        "pipeline_root": run.pipeline_root,
        "gcs_root": str(run.gcs_root),
    }
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary, sys.stdout)
    return 0 if run.succeeded else 1


def _shown(value: Any) -> Any:
    uri = getattr(value, "uri", None)
    return {"artifact": uri} if isinstance(uri, str) else value
