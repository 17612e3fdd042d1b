"""Lazy public names for packages whose imports are slow (aiplatform types, kfp)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from cjob_emu.optional import as_environment_problem


def where(exports: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Public name -> module defining it, from module -> names."""
    return {name: module for module, names in exports.items() for name in names}


def load(
    package: str, namespace: MutableMapping[str, Any], where: Mapping[str, str], name: str
) -> Any:
    """Import ``name`` on first use and keep it in the package's namespace."""
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        problem = as_environment_problem(exc, f"{package}.{name}")
        if problem is None:
            raise
        raise problem from None
    value = getattr(loaded, name)
    namespace[name] = value
    return value


def attach(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, whose public names
    (module -> names in ``exports``) are imported on first use::

        __getattr__, __dir__, __all__ = _lazy.attach(__name__, {"pkg.mod": ["name"]})
    """
    located = where(exports)
    names = list(located)

    def __getattr__(name: str) -> Any:
        return load(package, vars(sys.modules[package]), located, name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, names
