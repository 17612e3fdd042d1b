"""Facts the generated aiplatform_v1 types state only in their docstrings.

proto-plus builds its descriptors without the ``google.api.field_behavior``
options, so "Required.", "Output only." and "Deprecated" survive only in the
class docstrings of ``google.cloud.aiplatform_v1.types``. Reading them here
keeps those facts tied to the installed types instead of a retyped list.
"""

from __future__ import annotations

import re
from functools import cache

_ENTRY = re.compile(r"^( *)(\w+) \(([^)]*)\):$")
_HEAD = 40  # the behaviour tag opens the description ("Optional. Immutable. ...")


def _entries(doc: str) -> dict[str, tuple[str, str]]:
    """``name -> (text in parentheses, description)`` of a Google-style docstring list."""
    found: dict[str, tuple[str, str]] = {}
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = _ENTRY.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        body = []
        for follow in lines[i + 1 :]:
            if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                break
            body.append(follow)
        found[m.group(2)] = (m.group(3), " ".join(" ".join(body).split()))
    return found


def _attributes(proto_cls: type) -> dict[str, str]:
    return {name: text for name, (_, text) in _entries(proto_cls.__doc__ or "").items()}


@cache
def required_fields(proto_cls: type) -> frozenset[str]:
    """Fields whose docstring starts with ``Required.``."""
    return frozenset(
        name for name, text in _attributes(proto_cls).items() if "Required." in text[:_HEAD]
    )


@cache
def output_only_fields(proto_cls: type) -> frozenset[str]:
    """Fields whose docstring starts with ``Output only.``."""
    return frozenset(
        name for name, text in _attributes(proto_cls).items() if "Output only." in text[:_HEAD]
    )


@cache
def deprecated_values(enum_cls: type) -> frozenset[int]:
    """Numbers of the enum values documented as ``Deprecated``."""
    return frozenset(
        int(number)
        for number, text in _entries(enum_cls.__doc__ or "").values()
        if number.isdigit() and text.startswith("Deprecated")
    )


def message_classes(root: type) -> dict[str, type]:
    """Every proto-plus message class reachable from ``root``, by protobuf full name."""
    found: dict[str, type] = {}
    pending = [root]
    while pending:
        cls = pending.pop()
        name = cls.pb().DESCRIPTOR.full_name  # type: ignore[attr-defined]
        if name in found:
            continue
        found[name] = cls
        for field in cls.meta.fields.values():  # type: ignore[attr-defined]
            if hasattr(field.message, "meta"):
                pending.append(field.message)
    return found
