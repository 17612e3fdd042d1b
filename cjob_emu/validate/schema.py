"""Per-message field tables built once from protobuf descriptors.

The structural pass looks every JSON key up here; building the tables once
per message type (instead of asking the descriptor on every key) is what
keeps validation fast.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

FD = FieldDescriptor


class Kind(Enum):
    """How the proto3 JSON mapping reads a field."""

    STRING = "string"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    BYTES = "bytes"
    ENUM = "enum"
    MESSAGE = "message"
    DURATION = "duration"
    TIMESTAMP = "timestamp"
    WELL_KNOWN = "well-known"  # Any, Struct, wrappers...: parsed by json_format itself


class Shape:
    """Common field shapes the structural pass reads on a fast path."""

    OTHER = 0
    STRING = 1
    STRING_LIST = 2
    INT = 3
    MESSAGE = 4
    MESSAGE_LIST = 5


_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
_SCALAR_KINDS = {
    FD.TYPE_STRING: Kind.STRING,
    FD.TYPE_BOOL: Kind.BOOL,
    FD.TYPE_DOUBLE: Kind.FLOAT,
    FD.TYPE_FLOAT: Kind.FLOAT,
    FD.TYPE_BYTES: Kind.BYTES,
    FD.TYPE_ENUM: Kind.ENUM,
    **{t: Kind.INT for t in _INT_RANGES},
}
_TYPE_NAMES = {
    getattr(FD, attr): attr for attr in dir(FD) if attr.startswith("TYPE_") and attr != "TYPE_GROUP"
}
_TYPE_URL = "type.googleapis.com/"


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether a field is repeated (protobuf 6 deprecates ``label`` for ``is_repeated``)."""
    if hasattr(type(field), "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FD.LABEL_REPEATED)


class FieldInfo:
    """What the structural pass needs to know about one field."""

    __slots__ = (
        "_descriptor",
        "_schema",
        "container",
        "default",
        "enum_choices",
        "enum_names",
        "enum_numbers",
        "is_map",
        "kind",
        "map_key",
        "map_value",
        "name",
        "oneof",
        "range",
        "repeated",
        "shape",
        "type_label",
    )

    kind: Kind
    type_label: str

    def __init__(self, field: FieldDescriptor) -> None:
        self.name = field.name
        self.container = field.containing_type
        self.repeated = is_repeated(field)
        oneof = field.containing_oneof
        # proto3 `optional` wraps one field in a synthetic oneof named "_<field>".
        self.oneof = oneof.name if oneof is not None and len(oneof.fields) > 1 else None
        self.is_map = False
        self.shape = Shape.OTHER
        self.map_key: FieldInfo | None = None
        self.map_value: FieldInfo | None = None
        self.range = _INT_RANGES.get(field.type, (0, 0))
        self.enum_names: dict[str, int] = {}
        self.enum_numbers: frozenset[int] = frozenset()
        self.enum_choices = ""
        self._descriptor: Descriptor | None = None
        self._schema: MessageSchema | None = None
        if field.type == FD.TYPE_MESSAGE:
            msg = field.message_type
            entry = msg.GetOptions().map_entry if msg.has_options else False
            if entry:
                self.is_map = True
                self.map_key = FieldInfo(msg.fields_by_name["key"])
                self.map_value = FieldInfo(msg.fields_by_name["value"])
                self.kind = self.map_value.kind
                self.type_label = f"map<{self.map_key.type_label}, {self.map_value.type_label}>"
                self.default: Any = {}
                return
            self._descriptor = msg
            self.type_label = _TYPE_URL + msg.full_name
            if msg.full_name == "google.protobuf.Duration":
                self.kind = Kind.DURATION
            elif msg.full_name == "google.protobuf.Timestamp":
                self.kind = Kind.TIMESTAMP
            elif msg.full_name.startswith("google.protobuf."):
                self.kind = Kind.WELL_KNOWN
            else:
                self.kind = Kind.MESSAGE
                self.shape = Shape.MESSAGE_LIST if self.repeated else Shape.MESSAGE
            self.default = {}
            return
        self.kind = _SCALAR_KINDS[field.type]
        self.type_label = _TYPE_NAMES[field.type]
        if self.kind is Kind.STRING:
            self.shape = Shape.STRING_LIST if self.repeated else Shape.STRING
        elif self.kind is Kind.INT and not self.repeated:
            self.shape = Shape.INT
        if self.kind is Kind.ENUM:
            enum = field.enum_type
            self.type_label = _TYPE_URL + enum.full_name
            self.enum_names = {v.name: v.number for v in enum.values}
            self.enum_numbers = frozenset(v.number for v in enum.values)
            self.enum_choices = ", ".join(v.name for v in enum.values)
        self.default = {
            Kind.STRING: "",
            Kind.BOOL: False,
            Kind.INT: 0,
            Kind.FLOAT: 0.0,
            Kind.BYTES: b"",
            Kind.ENUM: 0,
        }[self.kind]

    @property
    def schema(self) -> MessageSchema:
        """The table of the field's message type (built on first use: types nest)."""
        if self._schema is None:
            assert self._descriptor is not None
            self._schema = schema_of(self._descriptor)
        return self._schema

    @property
    def descriptor(self) -> Descriptor:
        assert self._descriptor is not None
        return self._descriptor


class MessageSchema:
    """Fields of one message type, reachable by JSON name and by proto name."""

    __slots__ = ("by_key", "by_name", "full_name", "order")

    def __init__(self, descriptor: Descriptor) -> None:
        self.full_name = descriptor.full_name
        self.by_name = {f.name: FieldInfo(f) for f in descriptor.fields}
        self.by_key = dict(self.by_name)
        for f in descriptor.fields:
            self.by_key[f.json_name] = self.by_name[f.name]
        # Declaration order, as in the .proto file and the REST reference.
        self.order = {f.name: i for i, f in enumerate(descriptor.fields)}


# By descriptor, not by name: the schema cache's types live in a pool of their own
# beside the aiplatform types' (when both are loaded), and a table builds messages
# of its own pool's classes.
_SCHEMAS: dict[Descriptor, MessageSchema] = {}


def schema_of(descriptor: Descriptor) -> MessageSchema:
    """The cached field table of ``descriptor``."""
    found = _SCHEMAS.get(descriptor)
    if found is None:
        found = _SCHEMAS[descriptor] = MessageSchema(descriptor)
    return found
