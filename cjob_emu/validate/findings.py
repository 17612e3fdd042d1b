"""Collecting problems while rules run, and ordering them as the document reads.

Order is the fields' declaration order in the proto (as in the REST
reference) with list indexes ascending, so a job gives the same report
whether it came as camelCase, snake_case or a message. Problems on one path
keep the order the rules found them in.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from cjob_emu.validate.report import Problem, Severity, ValidationReport
from cjob_emu.validate.schema import Kind, MessageSchema

_SEGMENT = re.compile(r"([^.\[]*)((?:\[\d+\])*)\.?")
_BOUNDARY = re.compile(r"[.\[]")
_UNKNOWN = 1_000_000  # unknown names sort after every declared field


class Findings:
    """Problems of one job as rules report them."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Severity]] = []

    def error(self, field: str, message: str) -> None:
        self.items.append((field, message, "error"))

    def warning(self, field: str, message: str) -> None:
        self.items.append((field, message, "warning"))


def _order_key(root: MessageSchema, path: str) -> tuple[tuple[int, str, int], ...]:
    if not path:
        return ()
    key: list[tuple[int, str, int]] = []
    schema: MessageSchema | None = root
    rest = path
    while rest:
        match = _SEGMENT.match(rest)
        assert match is not None  # the pattern matches any text, possibly empty
        name, indexes = match.group(1), match.group(2)
        info = schema.by_name.get(name) if schema is not None else None
        if info is None:
            if schema is root and name == "location":
                return ((-1, name, -1),)  # the location the job goes to comes first
            key.append((_UNKNOWN, rest, -1))
            break
        position = schema.order[name]  # type: ignore[union-attr]
        numbers = [int(n) for n in re.findall(r"\d+", indexes)]
        key.append((position, name, numbers[0] if numbers else -1))
        rest = rest[match.end() :]
        if info.is_map:
            key.append((0, rest, -1))  # map keys: by name
            break
        schema = info.schema if info.kind is Kind.MESSAGE else None
    return tuple(key)


def _under(path: str, broken: set[str]) -> bool:
    """Whether ``path`` is one of ``broken`` or lies below one."""
    if path in broken:
        return True
    return any(path[: m.start()] in broken for m in _BOUNDARY.finditer(path))


@lru_cache(maxsize=4096)
def _cached_key(root: MessageSchema, path: str) -> tuple[tuple[int, str, int], ...]:
    return _order_key(root, path)


def build_report(
    root: MessageSchema, structural: list[tuple[str, str]], findings: Findings
) -> ValidationReport:
    """Merge structural errors and rule findings into one ordered report.

    A rule finding on a path the structural pass already rejected (or below
    it) is dropped: it only restates that the value was unusable.
    """
    items: list[tuple[str, str, Severity]] = [(p, m, "error") for p, m in structural]
    if structural:
        broken = {p for p, _ in structural}
        items.extend(item for item in findings.items if not _under(item[0], broken))
    else:
        items.extend(findings.items)
    report = ValidationReport()
    if not items:
        return report

    def key(pair: tuple[int, tuple[str, str, Severity]]) -> tuple[Any, int]:
        path = pair[1][0]
        order = _cached_key(root, path) if len(path) < 300 else _order_key(root, path)
        return (order, pair[0])

    ordered = sorted(enumerate(items), key=key)
    for _, (path, message, severity) in ordered:
        problem = Problem(path, message, severity)
        (report.errors if severity == "error" else report.warnings).append(problem)
    return report
