"""The list filters of ``customJobs.list`` and ``pipelineJobs.list``: the AIP-160
subset Vertex documents.

Fields of both: ``display_name`` (``=``, ``!=``, ``:`` with ``*`` wildcards),
``state`` (``=``, ``!=``), ``create_time`` (``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=``, RFC 3339), ``labels.KEY=VALUE``, ``labels.KEY:*`` (and ``labels:KEY``); of
PipelineJobs also ``pipeline_name`` (``=``, ``!=``), ``pipeline_job_user_id`` and
``template_uri`` (as ``display_name``), ``update_time`` and ``end_time`` (as
``create_time``; a job that has not ended matches no ``end_time`` comparison); the
REST spellings (``displayName``, ``createTime``...) too. Combined with ``AND``,
``OR``, ``NOT``/``-``, parentheses and implicit AND by juxtaposition. As AIP-160
says, ``OR`` binds tighter than ``AND``: ``a AND b OR c`` is ``a AND (b OR c)``.
Anything else is an error with a message, never a silent match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import timestamp_pb2

from cjob_emu.fake_api.kinds import CUSTOM_JOBS, Kind

Predicate = Callable[[object], bool]
"""Takes a job's protobuf message (``CustomJob.pb()``, ``PipelineJob.pb()`` instance)."""

_COMPARATORS = ("<=", ">=", "!=", "=", "<", ">", ":")
_NAME_STOP = set(" \t\r\n()\"'=<>!:")
_KEYWORDS = ("AND", "OR", "NOT")


def _pipeline_name(job: Any) -> str:
    info = job.pipeline_spec.fields.get("pipelineInfo")
    return info.struct_value.fields["name"].string_value if info is not None else ""


# Per kind: field -> (how it compares, how to read it from the message)
_TEXT, _EQUALITY, _TIME = "text", "equality", "time"
_FIELDS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "customJobs": {
        "display_name": (_TEXT, lambda job: job.display_name),
        "create_time": (_TIME, lambda job: job.create_time),
    },
    "pipelineJobs": {
        "display_name": (_TEXT, lambda job: job.display_name),
        "create_time": (_TIME, lambda job: job.create_time),
        "update_time": (_TIME, lambda job: job.update_time),
        "end_time": (_TIME, lambda job: job.end_time if job.HasField("end_time") else None),
        "pipeline_name": (_EQUALITY, _pipeline_name),
        "pipeline_job_user_id": (_TEXT, lambda job: job.name.rsplit("/", 1)[-1]),
        "template_uri": (_TEXT, lambda job: job.template_uri),
    },
}
_CAMEL = {"displayName": "display_name", "createTime": "create_time",
          "updateTime": "update_time", "endTime": "end_time", "pipelineName": "pipeline_name",
          "pipelineJobUserId": "pipeline_job_user_id", "templateUri": "template_uri"}


class FilterError(ValueError):
    """The filter text is not one the list method accepts; the message says why."""


def compile_filter(text: str, kind: Kind = CUSTOM_JOBS) -> Predicate:
    """Parse a filter into a predicate over the messages of ``kind``; an empty filter
    matches all."""
    return _Parser(text, kind).parse()


def _always(_job: object) -> bool:
    return True


@dataclass
class _Parser:
    text: str
    kind: Kind
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
        return _restriction(self.kind, path, op, value)

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


def _restriction(kind: Kind, path: list[str], op: str, value: str) -> Predicate:
    name = _CAMEL.get(path[0], path[0])
    shown = ".".join(path)
    if name == "labels":
        return _labels(path, op, value)
    if name == "state" and len(path) == 1:
        return _state(kind, op, value)
    fields = _FIELDS[kind.collection]
    if len(path) != 1 or name not in fields:
        others = [f for f in fields if f != "display_name"]
        supported = ", ".join(["display_name", "state", *others, "labels.<key>"])
        raise FilterError(
            f"Invalid filter: unsupported field {shown!r}; supported: {supported}"
        )
    how, read = fields[name]
    if how == _TIME:
        return _time(name, read, op, value)
    return _text(name, read, op, value, wildcard=how == _TEXT)


def _unsupported(field: str, op: str, allowed: str) -> FilterError:
    return FilterError(f"Invalid filter: {field} does not support {op!r}; it supports {allowed}")


def _text(name: str, read: Callable[[Any], Any], op: str, value: str, *,
          wildcard: bool) -> Predicate:
    if op == "=":
        return lambda job: read(job) == value
    if op == "!=":
        return lambda job: read(job) != value
    if op == ":" and wildcard:
        pattern = _wildcard(value)
        return lambda job: pattern.fullmatch(read(job)) is not None
    raise _unsupported(name, op, "=, != and : (wildcard)" if wildcard else "= and !=")


def _state(kind: Kind, op: str, value: str) -> Predicate:
    states: Any = kind.states  # a proto-plus enum: an IntEnum mypy does not see as one
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


def _time(name: str, read: Callable[[Any], Any], op: str, value: str) -> Predicate:
    compare = _TIME_OPS.get(op)
    if compare is None:
        raise _unsupported(name, op, "=, !=, <, <=, > and >=")
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromJsonString(value)
    except ValueError:
        raise FilterError(
            f"Invalid filter: {name} needs an RFC 3339 time like "
            f"\"2021-05-18T00:00:00Z\", got {value!r}"
        ) from None
    bound = (stamp.seconds, stamp.nanos)

    def check(job: object) -> bool:
        t = read(job)
        return t is not None and compare((t.seconds, t.nanos), bound)

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
