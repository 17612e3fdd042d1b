"""Required and output-only fields, as the aiplatform_v1 docstrings mark them.

Source: the "Required." and "Output only." tags that open each field's
docstring in ``google.cloud.aiplatform_v1.types`` (proto-plus drops the
``google.api.field_behavior`` options they come from), as the catalog keeps
them (cjob_emu.validate.catalog). Vertex answers a
missing required field with 400; output-only fields in a create request are
ignored (https://google.aip.dev/203), so those are warnings.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules.context import CATALOG, Context
from cjob_emu.validate.schema import is_repeated

REQUIRED = "Required field is not set."
OUTPUT_ONLY = "Output only field; Vertex ignores it in a create request."
EMPTY_ENV_VALUE = (
    "Required field is empty; Vertex may refuse an environment variable without a value."
)

_DOCUMENTED = CATALOG.documented
# EnvVar.value is marked Required, yet "" is an ordinary value and proto3 JSON
# cannot tell it from unset: whether Vertex refuses it is unknown, so warn.
_WARN_ONLY = {("google.cloud.aiplatform.v1.EnvVar", "value"): EMPTY_ENV_VALUE}
# CustomJobSpec.worker_pool_specs docstring: every pool but the first "can be
# skipped by providing an empty value"; the pool rules handle an empty first one.
_SKIPPABLE = {("google.cloud.aiplatform.v1.CustomJobSpec", "worker_pool_specs")}


_SCALAR, _MESSAGE, _REPEATED = 0, 1, 2


def _mode(field: FieldDescriptor) -> int:
    if is_repeated(field):
        return _REPEATED
    return _MESSAGE if field.type == FieldDescriptor.TYPE_MESSAGE else _SCALAR


def _is_set(message: Any, name: str, mode: int) -> bool:
    if mode == _REPEATED:
        return len(getattr(message, name)) > 0
    if mode == _MESSAGE:
        return bool(message.HasField(name))
    return bool(getattr(message, name))


class _Facts:
    """What to check in one message type: ``(name, how it is set, ...)`` tuples."""

    __slots__ = ("children", "output_only", "relevant", "required")

    relevant: bool

    def __init__(self, descriptor: Descriptor) -> None:
        required, output_only = _DOCUMENTED[descriptor.full_name]
        owner = descriptor.full_name
        fields = descriptor.fields
        self.required = [
            (f.name, _mode(f), _WARN_ONLY.get((owner, f.name)))
            for f in fields
            if f.name in required
        ]
        self.output_only = [(f.name, _mode(f)) for f in fields if f.name in output_only]
        # Only submessages with something to check below them are walked.
        self.children = [
            (f.name, is_repeated(f), (owner, f.name) in _SKIPPABLE)
            for f in fields
            if f.type == FieldDescriptor.TYPE_MESSAGE
            and f.message_type.full_name in _DOCUMENTED
            and f.name not in output_only
            and not f.message_type.GetOptions().map_entry
            and _facts(f.message_type).relevant
        ]
        self.relevant = bool(self.required or self.output_only or self.children)


_FACTS: dict[str, _Facts] = {}


def _facts(descriptor: Descriptor) -> _Facts:
    found = _FACTS.get(descriptor.full_name)
    if found is None:
        found = _FACTS[descriptor.full_name] = _Facts(descriptor)
    return found


def _walk(message: Any, path: str, out: Findings) -> None:
    facts = _facts(message.DESCRIPTOR)
    prefix = f"{path}." if path else ""
    for name, mode, note in facts.required:
        if not _is_set(message, name, mode):
            if note is None:
                out.error(prefix + name, REQUIRED)
            else:
                out.warning(prefix + name, note)
    for name, mode in facts.output_only:
        if _is_set(message, name, mode):
            out.warning(prefix + name, OUTPUT_ONLY)
    for name, repeated, skippable in facts.children:
        if repeated:
            for i, item in enumerate(getattr(message, name)):
                if not (skippable and item.ByteSize() == 0):
                    _walk(item, f"{prefix}{name}[{i}]", out)
        elif message.HasField(name):
            _walk(getattr(message, name), prefix + name, out)


def check(ctx: Context, out: Findings) -> None:
    """Every required field set, no output-only field set, anywhere in the job."""
    _walk(ctx.job, "", out)
