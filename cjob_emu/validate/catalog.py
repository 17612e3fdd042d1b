"""What validation reads from the installed aiplatform types, in one object.

The CustomJob message class, its enums, the facts only the generated classes'
docstrings state (required and output-only fields, deprecated enum values) and
the SDK's region list. A catalog is built from the types themselves
(:mod:`cjob_emu.validate.from_types`, slow: it imports aiplatform) or read back
from the plain data the schema cache keeps (:meth:`Catalog.from_data`, fast: it
needs only the protobuf runtime). Either way the rules see the same names,
numbers and facts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any, NamedTuple, cast

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FileDescriptor

JOB = "google.cloud.aiplatform.v1.CustomJob"


class Facts(NamedTuple):
    """What the docstrings of one message type mark: ``Required.`` and ``Output only.`` fields."""

    required: frozenset[str]
    output_only: frozenset[str]


class Catalog:
    """The installed aiplatform types as validation reads them.

    ``job_class``: the raw protobuf CustomJob class. ``documented``: the facts of every
    message type the generated classes document, by full name. ``deprecated``: the numbers
    of deprecated values, by enum full name. ``regions`` is called on first use (the
    SDK's list takes a second to import when read from the types).
    """

    __slots__ = ("_enums", "_regions", "_supported", "deprecated", "documented", "job_class")

    def __init__(
        self,
        job_class: type[Any],
        enums: Mapping[str, type[IntEnum]],
        documented: Mapping[str, Facts],
        deprecated: Mapping[str, frozenset[int]],
        regions: Callable[[], frozenset[str]],
    ) -> None:
        self.job_class = job_class
        self.documented = documented
        self.deprecated = deprecated
        self._enums = enums
        self._regions = regions
        self._supported: frozenset[str] | None = None

    @property
    def package(self) -> str:
        """The proto package of the types: ``google.cloud.aiplatform.v1``."""
        return str(self.job_class.DESCRIPTOR.file.package)

    def enum(self, name: str) -> Any:
        """The enum ``name`` of the package ("AcceleratorType", "Scheduling.Strategy"): an
        IntEnum whose members are the enum's values. A name the types lack is a KeyError."""
        return self._enums[f"{self.package}.{name}"]

    def deprecated_values(self, name: str) -> frozenset[int]:
        """Numbers of the values of enum ``name`` (as for :meth:`enum`) documented as deprecated."""
        return self.deprecated[f"{self.package}.{name}"]

    def regions(self) -> frozenset[str]:
        """The regions the aiplatform SDK accepts."""
        if self._supported is None:
            self._supported = self._regions()
        return self._supported

    def to_data(self) -> dict[str, Any]:
        """The catalog as JSON-ready data: the CustomJob's proto files (serialized
        FileDescriptorProtos, dependencies first), the enums' members in their classes'
        order (aliases too) and the facts beside them."""
        return {
            "files": [
                base64.b64encode(f.serialized_pb).decode("ascii")
                for f in _files(self.job_class.DESCRIPTOR.file)
            ],
            "enums": {
                name: [[member, int(value)] for member, value in enum.__members__.items()]
                for name, enum in sorted(self._enums.items())
            },
            "documented": {
                name: {"required": sorted(facts.required), "output_only": sorted(facts.output_only)}
                for name, facts in sorted(self.documented.items())
            },
            "deprecated": {name: sorted(self.deprecated[name]) for name in sorted(self.deprecated)},
            "regions": sorted(self.regions()),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Catalog:
        """A catalog from :meth:`to_data`'s data, its types in a pool of their own."""
        pool = descriptor_pool.DescriptorPool()
        for text in data["files"]:
            pool.AddSerializedFile(base64.b64decode(text))
        job = pool.FindMessageTypeByName(JOB)
        enums = {
            # the functional API makes a class; mypy reads the call as making a member
            name: cast("type[IntEnum]", IntEnum(name.rsplit(".", 1)[-1], members))
            for name, members in data["enums"].items()
        }
        documented = {
            name: Facts(frozenset(facts["required"]), frozenset(facts["output_only"]))
            for name, facts in data["documented"].items()
        }
        deprecated = {name: frozenset(numbers) for name, numbers in data["deprecated"].items()}
        regions = frozenset(data["regions"])
        return cls(
            message_factory.GetMessageClass(job), enums, documented, deprecated, lambda: regions
        )


def _files(root: FileDescriptor) -> list[FileDescriptor]:
    """``root`` and every file it depends on, each after its own dependencies."""
    order: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        order.append(file)

    visit(root)
    return order

