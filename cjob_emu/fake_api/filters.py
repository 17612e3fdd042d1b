"""The list filter of ``customJobs.list``: the AIP-160 subset Vertex documents.

Fields: ``display_name`` (``=``, ``!=``, ``:`` with ``*`` wildcards), ``state``
(``=``, ``!=``), ``create_time`` (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
RFC 3339), ``labels.KEY=VALUE``, ``labels.KEY:*`` (and ``labels:KEY``); the REST
spellings ``displayName`` and ``createTime`` too. Combined with ``AND``, ``OR``,
``NOT``/``-``, parentheses and implicit AND by juxtaposition. As AIP-160 says,
``OR`` binds tighter than ``AND``: ``a AND b OR c`` is ``a AND (b OR c)``.
Anything else is an error with a message, never a silent match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState
from google.protobuf import timestamp_pb2

Predicate = Callable[[object], bool]
"""Takes a ``CustomJob`` protobuf message (``CustomJob.pb()`` instance)."""

_COMPARATORS = ("<=", ">=", "!=", "=", "<", ">", ":")
_NAME_STOP = set(" \t\r\n()\"'=<>!:")
_KEYWORDS = ("AND", "OR", "NOT")

_FIELD_NAMES = {
    f.name: f.name for f in CustomJob.pb().DESCRIPTOR.fields
} | {f.json_name: f.name for f in CustomJob.pb().DESCRIPTOR.fields}


class FilterError(ValueError):
    """The filter text is not one the list method accepts; the message says why."""


def compile_filter(text: str) -> Predicate:
    """Parse a filter into a predicate over CustomJob messages; an empty filter matches all."""
    return _Parser(text).parse()


def _always(_job: object) -> bool:
    return True


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def parse(self) -> Predicate:
        self._skip_ws()
        if self._at_end():
            return _always
        node = self._expression()
        self._skip_ws()
        if not self._at_end():
            raise self._error(f"unexpected {self.text[self.pos]!r}")
        return node

    # expression := sequence {AND sequence}
    def _expression(self) -> Predicate:
        parts = [self._sequence()]
        while self._keyword("AND"):
            parts.append(self._sequence())
        return _all_of(parts)

    # sequence := factor {factor}   (juxtaposition means AND)
    def _sequence(self) -> Predicate:
        parts = [self._factor()]
        while True:
            self._skip_ws()
            if self._at_end() or self._peek() == ")" or self._peek_keyword("AND", "OR"):
                break
            parts.append(self._factor())
        return _all_of(parts)

    # factor := term {OR term}
    def _factor(self) -> Predicate:
        parts = [self._term()]
        while self._keyword("OR"):
            parts.append(self._term())
        return _any_of(parts) if len(parts) > 1 else parts[0]

    # term := [NOT | -] simple
    def _term(self) -> Predicate:
        self._skip_ws()
        if self._keyword("NOT") or self._minus():
            inner = self._simple()
            return lambda job: not inner(job)
        return self._simple()

    def _simple(self) -> Predicate:
        self._skip_ws()
        if self._peek() == "(":
            self.pos += 1
            node = self._expression()
            self._skip_ws()
            if self._peek() != ")":
                raise self._error("missing ')'")
            self.pos += 1
            return node
        return self._restriction()

    def _restriction(self) -> Predicate:
        start = self.pos
        path = self._name()
        if not path:
            raise self._error("expected a field name")
        self._skip_ws()
        op = next((c for c in _COMPARATORS if self.text.startswith(c, self.pos)), None)
        if op is None:
            raise self._error(f"expected a comparison after {self.text[start:self.pos].strip()!r}")
        self.pos += len(op)
        self._skip_ws()
        value = self._value()
        return _restriction(path, op, value)

    def _name(self) -> list[str]:
        """A dotted field path; a segment may be quoted (``labels."my.key"``)."""
        segments: list[str] = []
        while True:
            if self._peek() in ('"', "'"):
                segments.append(self._quoted())
            else:
                start = self.pos
                while not self._at_end() and self.text[self.pos] not in _NAME_STOP | {"."}:
                    self.pos += 1
                if start == self.pos:
                    if segments:
                        raise self._error("a field path ends with '.'")
                    return segments
                segments.append(self.text[start : self.pos])
            if self._peek() != ".":
                return segments
            self.pos += 1

    def _value(self) -> str:
        if self._peek() in ('"', "'"):
            return self._quoted()
        # Unquoted values run to whitespace or ')', so RFC 3339 times keep their colons.
        start = self.pos
        while not self._at_end() and self.text[self.pos] not in " \t\r\n)":
            self.pos += 1
        if start == self.pos:
            raise self._error("expected a value")
        return self.text[start : self.pos]

    def _quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out = []
        while not self._at_end():
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == quote:
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self._error("unterminated string")

    def _keyword(self, word: str) -> bool:
        self._skip_ws()
        if self._peek_keyword(word):
            self.pos += len(word)
            return True
        return False

    def _peek_keyword(self, *words: str) -> bool:
        for word in words:
            end = self.pos + len(word)
            if self.text.startswith(word, self.pos) and (
                end == len(self.text) or self.text[end] in " \t\r\n("
            ):
                return True
        return False

    def _minus(self) -> bool:
        if self._peek() == "-" and self.pos + 1 < len(self.text) and not self.text[
            self.pos + 1
        ].isspace():
            self.pos += 1
            return True
        return False

    def _skip_ws(self) -> None:
        while not self._at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _error(self, what: str) -> FilterError:
        return FilterError(f"Invalid filter {self.text!r}: {what} at position {self.pos}")


def _all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda job: all(p(job) for p in parts)


def _any_of(parts: list[Predicate]) -> Predicate:
    return lambda job: any(p(job) for p in parts)


def _restriction(path: list[str], op: str, value: str) -> Predicate:
    field = _FIELD_NAMES.get(path[0])
    shown = ".".join(path)
    if field == "labels":
        return _labels(path, op, value)
    if len(path) != 1 or field not in ("display_name", "state", "create_time"):
        raise FilterError(
            f"Invalid filter: unsupported field {shown!r}; supported: display_name, state, "
            "create_time, labels.<key>"
        )
    if field == "display_name":
        return _display_name(op, value)
    if field == "state":
        return _state(op, value)
    return _create_time(op, value)


def _unsupported(field: str, op: str, allowed: str) -> FilterError:
    return FilterError(f"Invalid filter: {field} does not support {op!r}; it supports {allowed}")


def _display_name(op: str, value: str) -> Predicate:
    if op == "=":
        return lambda job: job.display_name == value  # type: ignore[attr-defined]
    if op == "!=":
        return lambda job: job.display_name != value  # type: ignore[attr-defined]
    if op == ":":
        pattern = _wildcard(value)
        return lambda job: pattern.fullmatch(job.display_name) is not None  # type: ignore[attr-defined]
    raise _unsupported("display_name", op, "=, != and : (wildcard)")


def _state(op: str, value: str) -> Predicate:
    states: Any = JobState  # a proto-plus enum: an IntEnum mypy does not see as one
    try:
        wanted = int(value) if value.isdigit() else int(states[value])
    except KeyError:
        names = ", ".join(s.name for s in states)
        raise FilterError(f"Invalid filter: unknown state {value!r}; one of {names}") from None
    if op == "=":
        return lambda job: job.state == wanted  # type: ignore[attr-defined]
    if op == "!=":
        return lambda job: job.state != wanted  # type: ignore[attr-defined]
    raise _unsupported("state", op, "= and !=")


_TIME_OPS: dict[str, Callable[[tuple[int, int], tuple[int, int]], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _create_time(op: str, value: str) -> Predicate:
    compare = _TIME_OPS.get(op)
    if compare is None:
        raise _unsupported("create_time", op, "=, !=, <, <=, > and >=")
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromJsonString(value)
    except ValueError:
        raise FilterError(
            f"Invalid filter: create_time needs an RFC 3339 time like "
            f"\"2021-05-18T00:00:00Z\", got {value!r}"
        ) from None
    bound = (stamp.seconds, stamp.nanos)

    def check(job: object) -> bool:
        t = job.create_time  # type: ignore[attr-defined]
        return compare((t.seconds, t.nanos), bound)

    return check


def _labels(path: list[str], op: str, value: str) -> Predicate:
    if len(path) == 1:
        if op != ":":
            raise FilterError("Invalid filter: use labels.<key>=<value> or labels.<key>:*")
        return lambda job: value in job.labels  # type: ignore[attr-defined]
    key = ".".join(path[1:])
    if op == ":" and value == "*":
        return lambda job: key in job.labels  # type: ignore[attr-defined]
    if op == "=":
        return lambda job: job.labels.get(key) == value  # type: ignore[attr-defined]
    if op == "!=":
        return lambda job: job.labels.get(key) != value  # type: ignore[attr-defined]
    if op == ":":
        pattern = _wildcard(value)
        return lambda job: (
            key in job.labels  # type: ignore[attr-defined]
            and pattern.fullmatch(job.labels[key]) is not None  # type: ignore[attr-defined]
        )
    raise _unsupported("labels", op, "=, != and :*")


def _wildcard(value: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)
