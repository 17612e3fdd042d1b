"""Shapes of the names and URIs a CustomJob refers to."""

from __future__ import annotations

import re

from cjob_emu.validate.cache import catalog

# Resource name formats from the aiplatform_v1 field docstrings.
TENSORBOARD = re.compile(r"projects/[^/]+/locations/([^/]+)/tensorboards/[^/]+")
NETWORK = re.compile(r"projects/([^/]+)/global/networks/[^/]+")
KMS_KEY = re.compile(r"projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+")
CONTEXT = re.compile(r"projects/[^/]+/locations/([^/]+)/metadataStores/[^/]+/contexts/([^/]+)")
MODEL = re.compile(r"projects/[^/]+/locations/[^/]+/models/[^/@]+(?:@[^/@]+)?")
RESERVATION = re.compile(r"projects/[^/]+/zones/[^/]+/reservations/[^/]+")
# CreatePersistentResourceRequest.persistent_resource_id docstring.
PERSISTENT_RESOURCE_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
SERVICE_ACCOUNT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
GCS_URI = re.compile(r"gs://[^/\s]+(?:/.*)?", re.DOTALL)
# EnvVar.name docstring: "Must be a valid C identifier."
C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LABEL_ASCII = re.compile(r"[a-z0-9_-]*")

# Docker image references, after github.com/distribution/reference (regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"\w[\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"({_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
IMAGE_NAME_MAX = 255  # reference.NameTotalLengthMax
_IMAGE_MAX = 1024  # longer strings cannot be references; spares the regex


def is_image_reference(uri: str) -> bool:
    """Whether ``uri`` parses as a container image reference (``name[:tag][@digest]``)."""
    if len(uri) > _IMAGE_MAX:
        return False
    match = IMAGE_REFERENCE.fullmatch(uri)
    return match is not None and len(match.group(1)) <= IMAGE_NAME_MAX


def is_label_text(text: str) -> bool:
    """Lowercase letters, digits, ``_`` and ``-``; letters of caseless scripts allowed."""
    if text.isascii():
        return LABEL_ASCII.fullmatch(text) is not None
    return all(c in "_-" or (c.isalnum() and not c.isupper()) for c in text)


def is_python_module(name: str) -> bool:
    """A dotted Python module path such as ``trainer.task``."""
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def supported_regions() -> frozenset[str]:
    """The regions the aiplatform SDK accepts (its own list, in 1.x and 2.x alike)."""
    return catalog().regions()
