"""'Did you mean ...?': the one known name closest to a name that is not known."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

CUTOFF = 0.85
"""Least similarity (difflib's ratio) of a suggestion: close enough for a typo
(``n2-standrd-8``, ``us-centrl1``), not for another name altogether."""


def closest(
    value: str, choices: Iterable[str], *, fold: Callable[[str], str] = str.lower
) -> str | None:
    """The choice most like ``value`` (both compared through ``fold``), or None when
    none reaches :data:`CUTOFF` or two are equally close (a guess would mislead)."""
    matcher = difflib.SequenceMatcher(b=fold(value), autojunk=False)
    best: list[str] = []
    best_score = CUTOFF
    for choice in choices:
        matcher.set_seq1(fold(choice))
        if matcher.real_quick_ratio() < best_score or matcher.quick_ratio() < best_score:
            continue
        score = matcher.ratio()
        if score > best_score or (not best and score == best_score):
            best, best_score = [choice], score
        elif score == best_score:
            best.append(choice)
    return best[0] if len(best) == 1 else None


def with_hint(message: str, suggestion: str | None) -> str:
    """``message`` ending in ``; did you mean <suggestion>?`` when there is one."""
    if suggestion is None:
        return message
    return f"{message.rstrip('.')}; did you mean {suggestion}?"


def enum_fold(name: str) -> str:
    """Enum names compared without case and with ``-`` or spaces for ``_``."""
    return name.upper().replace("-", "_").replace(" ", "_")
