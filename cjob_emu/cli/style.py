"""The CLI's output settings and colours, in one place.

``main`` sets them once from the global flags (``--color``, ``--quiet``, ``-v``);
everything that prints asks here whether to colour a stream and how much to say.
Colour, by default, only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)
or ``TERM=dumb``; ``--color always`` or ``never`` overrides all of that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, TextIO

RED, GREEN, YELLOW, CYAN, BOLD = "31", "32", "33", "36", "1"
COLOR_MODES = ("auto", "always", "never")
QUIET, NORMAL, VERBOSE = -1, 0, 1


@dataclass
class OutputSettings:
    """How the CLI prints: ``color`` is one of :data:`COLOR_MODES`; ``verbosity`` is
    :data:`QUIET`, :data:`NORMAL` or :data:`VERBOSE` (and more for ``-vv``)."""

    color: str = "auto"
    verbosity: int = NORMAL

    @property
    def quiet(self) -> bool:
        return self.verbosity <= QUIET

    @property
    def verbose(self) -> bool:
        return self.verbosity >= VERBOSE


SETTINGS = OutputSettings()
"""The settings of this CLI invocation (set by :func:`configure`)."""


def configure(*, color: str = "auto", verbosity: int = NORMAL) -> None:
    """Set the output settings for this invocation (``main`` calls it once per run)."""
    if color not in COLOR_MODES:
        raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}, not {color!r}")
    SETTINGS.color = color
    SETTINGS.verbosity = verbosity


def colour_enabled(
    stream: TextIO, mode: str | None = None, *, terminal: bool | None = None
) -> bool:
    """Whether to colour what goes to ``stream`` (``mode`` defaults to the settings';
    ``terminal`` says whether it is one, when the caller knows better than isatty)."""
    mode = mode or SETTINGS.color
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream) if terminal is None else terminal


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (False for anything without isatty)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(code: str, text: str, enabled: bool) -> str:
    """``text`` in the ANSI style ``code`` when ``enabled``, else as it is."""
    return f"\033[{code}m{text}\033[0m" if enabled else text


class Style:
    """Colours for one stream, on when :func:`colour_enabled` says so."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = colour_enabled(stream)

    def red(self, text: str) -> str:
        return paint(RED, text, self.enabled)

    def yellow(self, text: str) -> str:
        return paint(YELLOW, text, self.enabled)

    def green(self, text: str) -> str:
        return paint(GREEN, text, self.enabled)

    def cyan(self, text: str) -> str:
        return paint(CYAN, text, self.enabled)

    def bold(self, text: str) -> str:
        return paint(BOLD, text, self.enabled)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """``data`` as JSON on stdout (what ``--json`` prints)."""
    print(json.dumps(data, indent=indent, ensure_ascii=False))
