"""Required and output-only fields, as the aiplatform_v1 docstrings mark them.

Source: the "Required." and "Output only." tags that open each field's
docstring in ``google.cloud.aiplatform_v1.types`` (proto-plus drops the
``google.api.field_behavior`` options they come from). Vertex answers a
missing required field with 400; output-only fields in a create request are
ignored (https://google.aip.dev/203), so those are warnings.
"""

from __future__ import annotations

from typing import Any

from google.cloud.aiplatform_v1.types.custom_job import CustomJob
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cjob_emu.validate.docstrings import message_classes, output_only_fields, required_fields
from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules.context import Context
from cjob_emu.validate.schema import is_repeated

REQUIRED = "Required field is not set."
OUTPUT_ONLY = "Output only field; Vertex ignores it in a create request."
EMPTY_ENV_VALUE = (
    "Required field is empty; Vertex may refuse an environment variable without a value."
)

_CLASSES = message_classes(CustomJob)
# EnvVar.value is marked Required, yet "" is an ordinary value and proto3 JSON
# cannot tell it from unset: whether Vertex refuses it is unknown, so warn.
_WARN_ONLY = {("google.cloud.aiplatform.v1.EnvVar", "value"): EMPTY_ENV_VALUE}
# CustomJobSpec.worker_pool_specs docstring: every pool but the first "can be
# skipped by providing an empty value"; the pool rules handle an empty first one.
_SKIPPABLE = {("google.cloud.aiplatform.v1.CustomJobSpec", "worker_pool_specs")}


class _Field:
    """How to tell whether a field is set: ``(name, repeated, message)``."""

    __slots__ = ("message", "name", "repeated", "skippable")

    def __init__(self, owner: Descriptor, field: FieldDescriptor) -> None:
        self.name = field.name
        self.repeated = is_repeated(field)
        self.message = field.type == FieldDescriptor.TYPE_MESSAGE
        self.skippable = (owner.full_name, field.name) in _SKIPPABLE

    def is_set(self, message: Any) -> bool:
        """Whether the field holds a value (proto3: a non-default one)."""
        if self.repeated:
            return len(getattr(message, self.name)) > 0
        if self.message:
            return bool(message.HasField(self.name))
        return bool(getattr(message, self.name))


class _Facts:
    __slots__ = ("children", "output_only", "required")

    def __init__(self, descriptor: Descriptor) -> None:
        cls = _CLASSES[descriptor.full_name]
        required, output_only = required_fields(cls), output_only_fields(cls)
        fields = descriptor.fields
        self.required = [
            (_Field(descriptor, f), _WARN_ONLY.get((descriptor.full_name, f.name)))
            for f in fields
            if f.name in required
        ]
        self.output_only = [_Field(descriptor, f) for f in fields if f.name in output_only]
        self.children = [
            _Field(descriptor, f)
            for f in fields
            if f.type == FieldDescriptor.TYPE_MESSAGE
            and f.message_type.full_name in _CLASSES
            and f.name not in output_only
            and not f.message_type.GetOptions().map_entry
        ]


_FACTS: dict[str, _Facts] = {}


def _facts(descriptor: Descriptor) -> _Facts:
    found = _FACTS.get(descriptor.full_name)
    if found is None:
        found = _FACTS[descriptor.full_name] = _Facts(descriptor)
    return found


def _walk(message: Any, path: str, out: Findings) -> None:
    facts = _facts(message.DESCRIPTOR)
    prefix = f"{path}." if path else ""
    for field, note in facts.required:
        if not field.is_set(message):
            if note is None:
                out.error(prefix + field.name, REQUIRED)
            else:
                out.warning(prefix + field.name, note)
    for field in facts.output_only:
        if field.is_set(message):
            out.warning(prefix + field.name, OUTPUT_ONLY)
    for field in facts.children:
        if field.repeated:
            for i, item in enumerate(getattr(message, field.name)):
                if not (field.skippable and item.ByteSize() == 0):
                    _walk(item, f"{prefix}{field.name}[{i}]", out)
        elif message.HasField(field.name):
            _walk(getattr(message, field.name), prefix + field.name, out)


def check(ctx: Context, out: Findings) -> None:
    """Every required field set, no output-only field set, anywhere in the job."""
    _walk(ctx.job, "", out)
