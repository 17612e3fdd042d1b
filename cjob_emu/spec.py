"""Load and dump CustomJobs in every form cjob-emu meets.

The forms: REST JSON (camelCase keys, enums as names or numbers, int64 as
strings), snake_case dicts (proto field names, what the SDK and GCPC take),
JSON or YAML files of either, and ``google.cloud.aiplatform_v1.CustomJob``
messages. The generated types' descriptors and ``json_format`` do all the
key and value mapping; nothing here retypes the schema.

A CustomJobSpec (what ``gcloud ai custom-jobs create --config=FILE`` and ``local-run``
users hold: ``workerPoolSpecs``, ``baseOutputDirectory``... at the top) is a CustomJob
whose display name comes from the file name (or ``display_name=``); its problems are
told with the paths the user wrote (``worker_pool_specs[0]...``, no ``job_spec.``).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml
from google.protobuf import descriptor, json_format

from cjob_emu.errors import InputError, InvalidJobError
from cjob_emu.validate import ValidationReport, validate
from cjob_emu.validate.cache import catalog
from cjob_emu.validate.schema import schema_of
from cjob_emu.validate.structure import StructureCheck

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import CustomJob

JobSource = Union[str, "os.PathLike[str]", Mapping[str, Any], "CustomJob"]
"""Anything :func:`load_job` accepts."""

DEFAULT_DISPLAY_NAME = "cjob-emu-job"
"""The display name of a CustomJobSpec read from no file and given none."""

SPEC_PREFIX = "job_spec."


def _job_type() -> type[CustomJob]:
    # imported on use: aiplatform_v1 takes a second to load, which reading a file
    # (`cjob-emu validate`) does not need
    from google.cloud.aiplatform_v1 import CustomJob

    return CustomJob


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that keeps timestamps as text, since proto JSON parses them itself."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_job_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON or YAML file holding one mapping, without interpreting it.

    Raises :class:`InputError` naming the file and the problem when the file is
    missing, a directory, empty, not UTF-8, not JSON/YAML, or not a mapping.
    """
    return parse_job_text(read_text(path), source=str(Path(path)))


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of a job or pipeline file; :class:`InputError` naming the file when it is
    missing, a directory, not UTF-8 or unreadable."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give a JSON or YAML file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; give a JSON or YAML file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read: {exc.strerror}") from None


def parse_job_text(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """Parse JSON or YAML text holding one mapping (see :func:`read_job_document`)."""
    if not text.strip():
        raise InputError(f"{source}: is empty; expected a CustomJob mapping")
    try:
        doc = yaml.load(text, Loader=_YamlLoader)  # a safe loader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{source}: not valid JSON or YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        kind = "nothing" if doc is None else f"a {type(doc).__name__}"
        raise InputError(
            f"{source}: holds {kind}; expected a CustomJob mapping (displayName, jobSpec, ...) "
            "or a CustomJobSpec (workerPoolSpecs, ...)"
        )
    return doc


def job_from_mapping(data: Mapping[str, Any]) -> CustomJob:
    """Build a CustomJob from REST JSON or a snake_case dict (keys may mix).

    Raises :class:`InvalidJobError` with the full validation report when the
    data does not fit the schema (unknown fields, wrong types). Create-time
    rules of a well-formed job are not checked here: see
    :func:`cjob_emu.validate.validate`.
    """
    if schema_errors(data):
        raise InvalidJobError(validate(data))
    pb = _job_type().pb()()
    try:
        json_format.ParseDict(data, pb)
    except (json_format.ParseError, TypeError, ValueError, AttributeError):
        raise InvalidJobError(validate(data)) from None
    return _job_type().wrap(pb)


def schema_errors(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for each value of ``data`` that does not fit the CustomJob schema.

    The validator's structural pass: stricter than ``json_format.ParseDict``, which lets
    through what Vertex refuses (``""`` or ``[]`` for an object or a map).
    """
    check = StructureCheck()
    check.root(data, schema_of(_job_type().pb().DESCRIPTOR))
    return check.errors


def load_job(source: JobSource, *, display_name: str | None = None) -> CustomJob:
    """Load a CustomJob from a file path, a mapping, or a message (returned as is).

    A file or mapping may hold a CustomJobSpec (see :func:`as_custom_job`);
    ``display_name`` replaces the document's (or the file name's).
    """
    if isinstance(source, _job_type()):
        return source
    if isinstance(source, Mapping):
        return load_document(as_custom_job(source, display_name=display_name))
    document = read_job_document(source)
    return load_document(as_custom_job(document, display_name=display_name, source=str(source)))


@dataclass(frozen=True)
class JobDocument:
    """A CustomJob mapping as read, not yet interpreted, and whether the user wrote a
    CustomJobSpec (``spec_form``), whose problems are told without ``job_spec.``."""

    data: dict[str, Any]
    spec_form: bool = False

    def user_report(self, report: ValidationReport) -> ValidationReport:
        """``report`` with every field path as the user wrote it."""
        if not self.spec_form:
            return report
        return ValidationReport(
            errors=[replace(p, field=self._user_field(p.field)) for p in report.errors],
            warnings=[replace(p, field=self._user_field(p.field)) for p in report.warnings],
        )

    @staticmethod
    def _user_field(field: str) -> str:
        return field[len(SPEC_PREFIX) :] if field.startswith(SPEC_PREFIX) else field


def _field_names(message: descriptor.Descriptor) -> dict[str, str]:
    """Both names (proto and JSON) of every field of ``message``, to its proto name."""
    fields = message.fields
    return {**{f.name: f.name for f in fields}, **{f.json_name: f.name for f in fields}}


@functools.cache
def _top_level_fields() -> tuple[dict[str, str], dict[str, str]]:
    """The field names of CustomJob and of CustomJobSpec, from the validator's cached
    catalog of the installed types (so reading a file loads no aiplatform module)."""
    job = catalog().job_class.DESCRIPTOR
    return _field_names(job), _field_names(job.fields_by_name["job_spec"].message_type)


def is_custom_job_spec(data: Mapping[str, Any]) -> bool:
    """True when ``data`` is a CustomJobSpec: no ``jobSpec``, and a CustomJobSpec field
    (``workerPoolSpecs``, ``baseOutputDirectory``...) at the top."""
    job_fields, spec_fields = _top_level_fields()
    names = [job_fields.get(key) for key in data]
    return "job_spec" not in names and any(key in spec_fields for key in data)


def as_custom_job(
    data: Mapping[str, Any], *, display_name: str | None = None, source: str | None = None
) -> JobDocument:
    """``data`` as a CustomJob mapping: a CustomJobSpec is put under ``jobSpec``.

    In a CustomJobSpec the CustomJob's own fields (``displayName``, ``labels``...) stay
    at the top, and a single mapping for ``workerPoolSpecs`` (as gcloud's ``--config``
    example writes it) is one pool. Its display name: ``display_name``, else its own,
    else the stem of ``source`` (the file name), else :data:`DEFAULT_DISPLAY_NAME`.
    ``display_name`` replaces a CustomJob's own too.
    """
    if not is_custom_job_spec(data):
        document = JobDocument(dict(data))
    else:
        job_fields, spec_fields = _top_level_fields()
        top = {k: v for k, v in data.items() if k in job_fields}
        spec = {k: v for k, v in data.items() if k not in job_fields}
        for key, value in spec.items():
            if spec_fields.get(key) == "worker_pool_specs" and isinstance(value, Mapping):
                spec[key] = [value]
        top["jobSpec"] = spec
        if not any(job_fields[key] == "display_name" for key in top):
            top["displayName"] = Path(source).stem if source else DEFAULT_DISPLAY_NAME
        document = JobDocument(top, spec_form=True)
    if display_name is not None:
        job_fields = _top_level_fields()[0]
        for key in [k for k in document.data if job_fields.get(k) == "display_name"]:
            del document.data[key]
        document.data["displayName"] = display_name
    return document


def load_document(document: JobDocument) -> CustomJob:
    """The CustomJob of ``document``; :class:`InvalidJobError` tells its paths as written."""
    try:
        return job_from_mapping(document.data)
    except InvalidJobError as exc:
        raise InvalidJobError(document.user_report(exc.report)) from None


def with_worker_pool_specs(job: CustomJob, pools: Sequence[Mapping[str, Any]]) -> CustomJob:
    """``job`` with its pools replaced by ``pools`` (snake_case or REST dicts, ``{}`` for a
    skipped pool), as gcloud's ``--worker-pool-spec`` flags replace a config's."""
    data = job_to_snake(job)
    data.setdefault("job_spec", {})["worker_pool_specs"] = [dict(pool) for pool in pools]
    return job_from_mapping(data)


def job_to_rest(job: CustomJob) -> dict[str, Any]:
    """The job as REST JSON: camelCase keys, enum names, int64 as strings."""
    return json_format.MessageToDict(_job_type().pb(job))


def job_to_snake(job: CustomJob) -> dict[str, Any]:
    """The job as a snake_case dict with enum names and integers, as Python code writes it."""
    pb = _job_type().pb(job)
    data = json_format.MessageToDict(pb, preserving_proto_field_name=True)
    return _int64_as_int(pb.DESCRIPTOR, data)


def job_to_json(job: CustomJob, *, indent: int | None = 2) -> str:
    """REST JSON text of the job."""
    return json.dumps(job_to_rest(job), indent=indent)


def worker_pool_specs(job: CustomJob) -> list[dict[str, Any]]:
    """The pools as ``aiplatform.CustomJob(worker_pool_specs=...)`` and GCPC's
    ``CustomTrainingJobOp`` take them: snake_case dicts, skipped pools as ``{}``."""
    spec = job_to_snake(job).get("job_spec", {})
    pools: list[dict[str, Any]] = spec.get("worker_pool_specs", [])
    return pools


def _int64_as_int(desc: descriptor.Descriptor, data: dict[str, Any]) -> dict[str, Any]:
    """Turn proto JSON's int64 strings back into ints, walking the message descriptor."""
    int64_types = (
        descriptor.FieldDescriptor.TYPE_INT64,
        descriptor.FieldDescriptor.TYPE_UINT64,
        descriptor.FieldDescriptor.TYPE_SINT64,
        descriptor.FieldDescriptor.TYPE_FIXED64,
        descriptor.FieldDescriptor.TYPE_SFIXED64,
    )
    for name, value in data.items():
        field = desc.fields_by_name.get(name)
        if field is None:
            continue
        values = value if isinstance(value, list) else [value]
        if field.type in int64_types:
            data[name] = [int(v) for v in values] if isinstance(value, list) else int(value)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            for item in values:
                if isinstance(item, dict):
                    _int64_as_int(field.message_type, item)
    return data
