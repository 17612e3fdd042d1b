"""The structural pass: read a REST-style mapping the way Vertex's JSON front end does.

Walks the mapping alongside the CustomJob descriptors, accepting what proto3
JSON accepts (camelCase or proto names, enums as names or numbers, int64 as
strings or numbers, Durations as ``"3600s"``, RFC 3339 Timestamps) and
reporting everything else with its snake_case path. The result is a cleaned
mapping of proto names to Python values that the message constructor takes
directly; building the message that way is about fifteen times faster than
``json_format.ParseDict`` and this pass has already done all of its checks.

Invalid values are left out of the cleaned mapping; an invalid element of a
list is replaced by its default so the indexes of the others stay right.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor

from cjob_emu.validate.hints import closest, enum_fold, with_hint
from cjob_emu.validate.schema import (
    FieldInfo,
    Kind,
    MessageSchema,
    Shape,
    is_repeated,
    schema_of,
)

_INTEGER = re.compile(r"-?\d{1,20}")  # longer strings are out of every integer range anyway
_DURATION = re.compile(r"(-)?(\d{1,12})(?:\.(\d{1,9}))?s")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
_MAX_DURATION_SECONDS = 315_576_000_000  # google/protobuf/duration.proto: +-10,000 years
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_BAD = object()
_EXPECTED = {
    Kind.STRING: "expected a string",
    Kind.BOOL: "expected true or false",
    Kind.INT: "expected an integer",
    Kind.MESSAGE: "expected an object",
    Kind.DURATION: 'expected a duration string like "3600s" or "1.5s"',
    Kind.TIMESTAMP: 'expected an RFC 3339 timestamp like "2024-05-01T12:00:00Z"',
}


def show(value: Any) -> str:
    """A short, never-failing rendering of a JSON value for messages."""
    try:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            text = value if len(value) <= 40 else value[:40] + "..."
            return json.dumps(text, ensure_ascii=False)
        if isinstance(value, int):
            digits = str(value) if -(10**30) < value < 10**30 else "<a very large integer>"
            return digits
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, Mapping):
            return "{...}"
        if isinstance(value, (list, tuple)):
            return "[...]"
        return f"<{type(value).__name__}>"
    except Exception:
        return "<value>"


def invalid_value(path: str, info: FieldInfo, value: Any, reason: str) -> str:
    """Google's JSON front end's wording for a value a field cannot take, with the reason."""
    where = f"custom_job.{path}" if path else "custom_job"
    return f"Invalid value at '{where}' ({info.type_label}), {show(value)}: {reason}."


def enum_errors(message: Any, path: str = "") -> list[tuple[str, str]]:
    """Enum fields of a built message holding numbers their enum lacks.

    proto3 enums are open, so a message (unlike JSON input, which the
    structural pass reads) can carry any number; Vertex accepts none of those.
    """
    found: list[tuple[str, str]] = []
    for field, value in message.ListFields():
        fpath = f"{path}.{field.name}" if path else field.name
        repeated = is_repeated(field)
        if field.type == FieldDescriptor.TYPE_ENUM:
            info = schema_of(field.containing_type).by_name[field.name]
            for i, number in enumerate(value if repeated else [value]):
                if number not in info.enum_numbers:
                    where = f"{fpath}[{i}]" if repeated else fpath
                    reason = f"expected one of {info.enum_choices}"
                    found.append((where, invalid_value(where, info, number, reason)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue
            if repeated:
                for i, item in enumerate(value):
                    found.extend(enum_errors(item, f"{fpath}[{i}]"))
            else:
                found.extend(enum_errors(value, fpath))
    return found


def _load_any_types() -> None:
    """Load the aiplatform types, which an Any's ``@type`` is looked up among.

    json_format finds an Any's type in the default descriptor pool, where the
    aiplatform types (and the google.rpc ones they import) are once loaded: so an
    Any reads the same whether the job's types came from the schema cache or
    from aiplatform itself. Imported here, on the rare input with an Any: the
    import takes a second.
    """
    import google.cloud.aiplatform_v1  # noqa: F401


def _reason(exc: Exception) -> str:
    """The first line of a parser's complaint, as the reason in our message."""
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return text.rstrip(".")


def _valid_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StructureCheck:
    """One structural pass over one job; ``errors`` holds ``(path, message)`` pairs."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def root(self, data: Any, schema: MessageSchema) -> dict[str, Any]:
        """Check a whole CustomJob; the cleaned keyword arguments of its message."""
        if not isinstance(data, Mapping):
            self.errors.append(
                (
                    "",
                    f"Invalid value at 'custom_job' (type.googleapis.com/{schema.full_name}), "
                    f"{show(data)}: expected an object.",
                )
            )
            return {}
        return self.message(data, schema, "")

    def _invalid(
        self, path: str, info: FieldInfo, value: Any, reason: str, hint: str | None = None
    ) -> object:
        self.errors.append((path, with_hint(invalid_value(path, info, value, reason), hint)))
        return _BAD

    def message(self, data: Mapping[Any, Any], schema: MessageSchema, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        oneofs: dict[str, str] = {}
        by_key = schema.by_key
        for key, raw in data.items():
            info = by_key.get(key) if isinstance(key, str) else None
            if info is None:
                where = f"custom_job.{path}" if path else "custom_job"
                name = key if isinstance(key, str) else show(key)
                self.errors.append(
                    (
                        f"{path}.{name}" if path else str(name),
                        f"Invalid JSON payload received. Unknown name {json.dumps(name)} "
                        f"at '{where}': Cannot find field.",
                    )
                )
                continue
            name = info.name
            if name in seen:
                self.errors.append(
                    (
                        f"{path}.{name}" if path else name,
                        f"Field `{name}` is given more than once "
                        f"(as {json.dumps(seen[name])} and {json.dumps(key)}).",
                    )
                )
                continue
            seen[name] = key
            if raw is None:  # proto3 JSON: null means the default value
                continue
            if info.oneof is not None:
                other = oneofs.get(info.oneof)
                if other is not None:
                    message = (
                        f"Only one of `{other}` or `{name}` may be set (oneof `{info.oneof}`)."
                    )
                    self.errors.append((f"{path}.{name}" if path else name, message))
                    continue
                oneofs[info.oneof] = name
            # Fast paths for the common, valid shapes; anything else takes the full route.
            shape = info.shape
            if shape == Shape.STRING:
                if type(raw) is str and raw.isascii():
                    out[name] = raw
                    continue
            elif shape == Shape.MESSAGE:
                if type(raw) is dict:
                    schema_ = info._schema or info.schema
                    out[name] = self.message(raw, schema_, f"{path}.{name}" if path else name)
                    continue
            elif shape == Shape.INT:
                if type(raw) is int and info.range[0] <= raw <= info.range[1]:
                    out[name] = raw
                    continue
            elif shape == Shape.STRING_LIST:
                if type(raw) is list and all(type(s) is str and s.isascii() for s in raw):
                    out[name] = raw
                    continue
            elif (
                shape == Shape.MESSAGE_LIST
                and type(raw) is list
                and all(type(item) is dict for item in raw)
            ):
                schema_ = info._schema or info.schema
                prefix = f"{path}.{name}" if path else name
                out[name] = [
                    self.message(item, schema_, f"{prefix}[{i}]") for i, item in enumerate(raw)
                ]
                continue
            fpath = f"{path}.{name}" if path else name
            if info.is_map:
                value = self.map(raw, info, fpath)
            elif info.repeated:
                value = self.repeated(raw, info, fpath)
            else:
                value = self.single(raw, info, fpath)
            if value is not _BAD:
                out[name] = value
        return out

    def repeated(self, raw: Any, info: FieldInfo, path: str) -> Any:
        if not isinstance(raw, (list, tuple)):
            return self._invalid(path, info, raw, "expected a list")
        items = []
        for i, item in enumerate(raw):
            if item is None:
                self._invalid(f"{path}[{i}]", info, item, "null is not allowed in a list")
                value = _BAD
            else:
                value = self.single(item, info, f"{path}[{i}]")
            items.append(info.default if value is _BAD else value)
        return items

    def map(self, raw: Any, info: FieldInfo, path: str) -> Any:
        if not isinstance(raw, Mapping):
            return self._invalid(path, info, raw, "expected an object of keys and values")
        key_info, value_info = info.map_key, info.map_value
        assert key_info is not None and value_info is not None
        out: dict[Any, Any] = {}
        for key, item in raw.items():
            shown = key if isinstance(key, str) else show(key)
            kpath = f"{path}.{shown}"
            # YAML reads `1: x` with an int key; JSON keys are always strings.
            numeric = isinstance(key, int) and not isinstance(key, bool)
            key_value = self.single(str(key) if numeric else key, key_info, kpath)
            if key_value is _BAD:
                continue
            if item is None:
                self._invalid(kpath, value_info, item, "a map value cannot be null")
                continue
            value = self.single(item, value_info, kpath)
            if value is not _BAD:
                out[key_value] = value
        return out

    def single(self, raw: Any, info: FieldInfo, path: str) -> Any:
        kind = info.kind
        if kind is Kind.STRING:
            if isinstance(raw, str):
                if _valid_text(raw):
                    return raw
                return self._invalid(path, info, raw, "not valid UTF-8")
        elif kind is Kind.MESSAGE:
            if isinstance(raw, Mapping):
                return self.message(raw, info.schema, path)
        elif kind is Kind.ENUM:
            return self.enum(raw, info, path)
        elif kind is Kind.INT:
            return self.integer(raw, info, path)
        elif kind is Kind.BOOL:
            if isinstance(raw, bool):
                return raw
        elif kind is Kind.DURATION:
            return self.duration(raw, info, path)
        elif kind is Kind.TIMESTAMP:
            return self.timestamp(raw, info, path)
        elif kind is Kind.FLOAT or kind is Kind.BYTES:
            return self.by_json_format(raw, info, path)
        else:
            return self.well_known(raw, info, path)
        return self._invalid(path, info, raw, _EXPECTED[kind])

    def enum(self, raw: Any, info: FieldInfo, path: str) -> Any:
        number: Any = None
        if isinstance(raw, str):
            number = info.enum_names.get(raw)
            if number is None and _INTEGER.fullmatch(raw):
                number = int(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            number = raw
        if number is not None and number in info.enum_numbers:
            return number
        # A name close to one of the enum's (NVIDIA_TESLA_T5, nvidia-tesla-t4) is named.
        hint = closest(raw, info.enum_names, fold=enum_fold) if isinstance(raw, str) else None
        return self._invalid(path, info, raw, f"expected one of {info.enum_choices}", hint)

    def integer(self, raw: Any, info: FieldInfo, path: str) -> Any:
        number: int
        if isinstance(raw, bool):
            return self._invalid(path, info, raw, "expected an integer, not a boolean")
        if (
            isinstance(raw, int)
            or (isinstance(raw, str) and _INTEGER.fullmatch(raw))
            or (isinstance(raw, float) and raw.is_integer())
        ):
            number = int(raw)
        else:
            return self._invalid(path, info, raw, "expected an integer")
        low, high = info.range
        if low <= number <= high:
            return number
        return self._invalid(path, info, raw, f"out of range for {info.type_label} ({low}..{high})")

    def duration(self, raw: Any, info: FieldInfo, path: str) -> Any:
        match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            return self._invalid(path, info, raw, _EXPECTED[Kind.DURATION])
        sign = -1 if match.group(1) else 1
        seconds = int(match.group(2))
        nanos = int((match.group(3) or "").ljust(9, "0"))
        if seconds > _MAX_DURATION_SECONDS:
            return self._invalid(path, info, raw, "a duration must be within 10,000 years")
        return {"seconds": sign * seconds, "nanos": sign * nanos}

    def timestamp(self, raw: Any, info: FieldInfo, path: str) -> Any:
        match = _TIMESTAMP.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            return self._invalid(path, info, raw, _EXPECTED[Kind.TIMESTAMP])
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=timezone.utc,
            )
            if zone not in ("Z", "z"):
                offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                moment = moment - offset if zone[0] == "+" else moment + offset
        except (ValueError, OverflowError):
            return self._invalid(path, info, raw, "not a valid date and time")
        if not 1 <= moment.year <= 9999:
            return self._invalid(path, info, raw, "a timestamp must fall in years 1 to 9999")
        delta = moment - _EPOCH
        seconds = delta.days * 86400 + delta.seconds
        return {"seconds": seconds, "nanos": int((fraction or "").ljust(9, "0"))}

    def by_json_format(self, raw: Any, info: FieldInfo, path: str) -> Any:
        """Floats and bytes (a CustomJob has none today): the general parser reads them."""
        try:
            holder = message_factory.GetMessageClass(info.container)()
            json_format.ParseDict({info.name: [raw] if info.repeated else raw}, holder)
        except Exception as exc:  # json_format raises several types for bad input
            return self._invalid(path, info, raw, _reason(exc))
        value = getattr(holder, info.name)
        return value[0] if info.repeated else value

    def well_known(self, raw: Any, info: FieldInfo, path: str) -> Any:
        # Only well-known types other than Duration and Timestamp get here (in a
        # CustomJob: the Any details of the output-only `error`), so the general
        # parser is fine.
        if isinstance(raw, Mapping) and "@type" in raw:
            _load_any_types()
        try:
            message = message_factory.GetMessageClass(info.descriptor)()
            json_format.ParseDict(raw, message)
        except Exception as exc:  # json_format raises several types for bad input
            return self._invalid(path, info, raw, _reason(exc))
        return message
