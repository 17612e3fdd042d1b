"""Optional packages: one check, one message naming the package and the extra to install.

kfp stays optional because it pins requests and urllib3 exactly; only converting,
checking and running pipelines need it. A missing one is an
:class:`~cjob_emu.errors.EnvironmentProblem` (exit 3), never a traceback.
"""

from __future__ import annotations

import importlib

from cjob_emu.errors import EnvironmentProblem

EXTRAS = {"kfp": "convert"}
"""Optional top-level package -> the cjob-emu extra that installs it."""


def missing_package(package: str, purpose: str) -> EnvironmentProblem:
    """The error for ``package`` missing when ``purpose`` needs it."""
    extra = EXTRAS.get(package)
    how = f"pip install 'cjob-emu[{extra}]'" if extra else f"pip install {package}"
    return EnvironmentProblem(f"{purpose} needs the {package} package (not installed): {how}")


def require(package: str, purpose: str) -> None:
    """Raise :func:`missing_package`'s error unless ``package`` imports."""
    try:
        importlib.import_module(package)
    except ImportError as exc:
        if (exc.name or package).split(".")[0] != package:
            raise  # the package is there but something it needs is broken: show that
        raise missing_package(package, purpose) from None


def as_environment_problem(exc: ImportError, purpose: str) -> EnvironmentProblem | None:
    """An import error of an optional package as our error; None for any other."""
    package = (exc.name or "").split(".")[0]
    if package not in EXTRAS:
        return None
    return missing_package(package, purpose)
