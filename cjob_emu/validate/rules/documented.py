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


class _Facts:
    __slots__ = ("children", "output_only", "required")

    def __init__(self, descriptor: Descriptor) -> None:
        cls = _CLASSES[descriptor.full_name]
        required, output_only = required_fields(cls), output_only_fields(cls)
        self.required = [f for f in descriptor.fields if f.name in required]
        self.output_only = [f for f in descriptor.fields if f.name in output_only]
        self.children = [
            f
            for f in descriptor.fields
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


def is_set(message: Any, field: FieldDescriptor) -> bool:
    """Whether a field holds a value (proto3: a non-default one)."""
    if field.label == FieldDescriptor.LABEL_REPEATED:
        return len(getattr(message, field.name)) > 0
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return bool(message.HasField(field.name))
    return bool(getattr(message, field.name))


def _walk(message: Any, path: str, out: Findings) -> None:
    descriptor = message.DESCRIPTOR
    facts = _facts(descriptor)
    prefix = f"{path}." if path else ""
    for field in facts.required:
        if not is_set(message, field):
            note = _WARN_ONLY.get((descriptor.full_name, field.name))
            if note is None:
                out.error(prefix + field.name, REQUIRED)
            else:
                out.warning(prefix + field.name, note)
    for field in facts.output_only:
        if is_set(message, field):
            out.warning(prefix + field.name, OUTPUT_ONLY)
    for field in facts.children:
        if field.label == FieldDescriptor.LABEL_REPEATED:
            skippable = (descriptor.full_name, field.name) in _SKIPPABLE
            for i, item in enumerate(getattr(message, field.name)):
                if not (skippable and item.ByteSize() == 0):
                    _walk(item, f"{prefix}{field.name}[{i}]", out)
        elif message.HasField(field.name):
            _walk(getattr(message, field.name), prefix + field.name, out)


def check(ctx: Context, out: Findings) -> None:
    """Every required field set, no output-only field set, anywhere in the job."""
    _walk(ctx.job, "", out)
