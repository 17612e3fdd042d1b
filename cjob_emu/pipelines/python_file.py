"""A pipeline (or one component) written in a ``.py`` file, compiled with kfp.

``pipeline.py`` holding one ``@dsl.pipeline`` runs that pipeline; ``pipeline.py:NAME``
names the pipeline or the component to run (a component runs as a one-task pipeline,
as :func:`~cjob_emu.pipelines.run_component` runs it). The file is imported as Python
runs a script (its directory first on ``sys.path``, so its sibling modules import),
under a module name of its own, never ``__main__``: a ``main()`` behind
``if __name__ == "__main__"`` does not run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from kfp import compiler
from kfp.dsl.base_component import BaseComponent
from kfp.dsl.graph_component import GraphComponent

from cjob_emu.errors import InputError
from cjob_emu.launcher.pipeline_spec import read_pipeline


def compile_python_file(path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
    """The compiled pipeline spec of the pipeline (or component) ``name`` in the file ``path``,
    or of its only ``@dsl.pipeline``.

    InputError (naming the candidates) when the file has no pipeline or several and no
    ``name`` picks one, when ``name`` is no kfp pipeline or component, or when importing
    or compiling fails.
    """
    source = Path(path)
    component = pick_component(source, _import(source), name)
    label = f"{source}:{name}" if name else str(source)
    with tempfile.TemporaryDirectory(prefix="cjob-emu-compile-") as scratch:
        out = Path(scratch) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(component, str(out))
        except Exception as exc:  # kfp raises many types for a pipeline it cannot compile
            raise InputError(f"{label}: kfp cannot compile it: {exc}") from None
        return read_pipeline(out)


def pick_component(source: Path, module: ModuleType, name: str | None) -> BaseComponent:
    """The component ``name`` of ``module``, or its only pipeline (InputError otherwise)."""
    found = {k: v for k, v in vars(module).items() if isinstance(v, BaseComponent)}
    pipelines = [k for k, v in found.items() if isinstance(v, GraphComponent)]
    components = [k for k in found if k not in pipelines]
    candidates = f"pipelines: {_listed(pipelines)}; components: {_listed(components)}"
    if name is not None:
        if name in found:
            return found[name]
        what = "no such name" if not hasattr(module, name) else "not a kfp pipeline or component"
        raise InputError(f"{source}:{name}: {what} ({candidates})")
    if len(pipelines) == 1:
        return found[pipelines[0]]
    if not pipelines:
        raise InputError(
            f"{source}: no @dsl.pipeline at the top of the file ({candidates}); "
            f"run a component as one task with {source}:NAME"
        )
    raise InputError(
        f"{source}: {len(pipelines)} pipelines ({_listed(pipelines)}); pick one with {source}:NAME"
    )


def _listed(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _import(source: Path) -> ModuleType:
    if not source.is_file():
        raise InputError(
            f"{source}: no such file" if not source.exists() else f"{source}: not a file"
        )
    module_name = f"cjob_emu_user_{source.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise InputError(f"{source}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    # registered by name, as an imported module is: kfp, dataclasses and typing look it up
    sys.modules[module_name] = module
    directory = str(source.resolve().parent)
    sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise InputError(f"{source}: importing it failed: {type(exc).__name__}: {exc}") from None
    finally:
        with contextlib.suppress(ValueError):  # the file may have changed sys.path itself
            sys.path.remove(directory)
    return module
