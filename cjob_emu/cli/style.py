"""ANSI colours for the CLI's output, in one place: on for a terminal, off elsewhere."""

from __future__ import annotations

import json
from typing import Any, TextIO

RED, GREEN, YELLOW, CYAN, BOLD = "31", "32", "33", "36", "1"


def paint(code: str, text: str, enabled: bool) -> str:
    """``text`` in the ANSI style ``code`` when ``enabled``, else as it is."""
    return f"\033[{code}m{text}\033[0m" if enabled else text


class Style:
    """Colours for one stream: enabled when it is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty()

    def red(self, text: str) -> str:
        return paint(RED, text, self.enabled)

    def yellow(self, text: str) -> str:
        return paint(YELLOW, text, self.enabled)

    def green(self, text: str) -> str:
        return paint(GREEN, text, self.enabled)

    def bold(self, text: str) -> str:
        return paint(BOLD, text, self.enabled)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """``data`` as JSON on stdout (what ``--json`` prints)."""
    print(json.dumps(data, indent=indent, ensure_ascii=False))
