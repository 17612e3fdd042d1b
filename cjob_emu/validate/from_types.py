"""The catalog read from the installed ``google.cloud.aiplatform_v1`` types themselves.

Importing them takes a second or more (any submodule runs the whole package's
``__init__``), so this module is imported only to build the schema cache, or
when the cache is off (:mod:`cjob_emu.validate.cache`).
"""

from __future__ import annotations

from enum import IntEnum

from google.cloud.aiplatform_v1.types.custom_job import CustomJob

from cjob_emu.validate.catalog import Catalog, Facts
from cjob_emu.validate.docstrings import (
    deprecated_values,
    message_classes,
    output_only_fields,
    required_fields,
)


def supported_regions() -> frozenset[str]:
    """The regions the aiplatform SDK accepts (its own list, in 1.x and 2.x alike)."""
    # imported on first use: google.cloud.aiplatform takes another second to load
    from google.cloud.aiplatform.constants import base

    return frozenset(base.SUPPORTED_REGIONS) | frozenset(getattr(base, "MREP_JURISDICTIONS", ()))


def installed_catalog() -> Catalog:
    """The catalog of the installed types: their classes and enums as they are."""
    classes = message_classes(CustomJob)
    documented = {
        name: Facts(required_fields(cls), output_only_fields(cls)) for name, cls in classes.items()
    }
    enums: dict[str, type[IntEnum]] = {}
    for cls in classes.values():
        descriptor = cls.pb().DESCRIPTOR  # type: ignore[attr-defined]
        for field in descriptor.fields:
            if field.enum_type is not None:
                enums[field.enum_type.full_name] = cls.meta.fields[field.name].enum  # type: ignore[attr-defined]
    deprecated = {name: deprecated_values(enum) for name, enum in enums.items()}
    return Catalog(CustomJob.pb(), enums, documented, deprecated, supported_regions)
