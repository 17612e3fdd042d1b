"""Rules on the CustomJob itself: display name, labels, encryption."""

from __future__ import annotations

from cjob_emu.validate.findings import Findings
from cjob_emu.validate.rules.context import Context
from cjob_emu.validate.rules.names import KMS_KEY, is_label_text

DISPLAY_NAME_MAX = 128
LABEL_TEXT_MAX = 64
LABELS_MAX = 64


def display_name_length(ctx: Context, out: Findings) -> None:
    """``display_name`` at most 128 characters.

    Source: CustomJob.display_name docstring ("can be up to 128 characters long
    and can consist of any UTF-8 characters"); reference section 4. Characters
    are Unicode code points, as the SDK counts them (``len()`` in
    google.cloud.aiplatform.utils.validate_display_name), not UTF-8 bytes.
    """
    length = len(ctx.job.display_name)
    if length > DISPLAY_NAME_MAX:
        out.error(
            "display_name",
            f"`display_name` is {length} characters long; at most {DISPLAY_NAME_MAX} are allowed.",
        )


def labels(ctx: Context, out: Findings) -> None:
    """Label keys and values: at most 64 lowercase letters, digits, ``_`` and ``-``.

    Source: CustomJob.labels docstring ("can be no longer than 64 characters
    (Unicode codepoints), can only contain lowercase letters, numeric
    characters, underscores and dashes. International characters are
    allowed."): errors. Reference section 4 and
    https://cloud.google.com/resource-manager/docs/labels-overview: keys start
    with a letter and at most 64 labels per resource; weaker evidence, warnings.
    """
    found = ctx.job.labels
    if not found:
        return
    if len(found) > LABELS_MAX:
        out.warning(
            "labels", f"A resource can have at most {LABELS_MAX} labels; this job has {len(found)}."
        )
    for key in sorted(found):
        value = found[key]
        path = f"labels.{key}"
        if not key:
            out.error(path, "Label keys must not be empty.")
        elif len(key) > LABEL_TEXT_MAX:
            out.error(path, f"Label keys can be no longer than {LABEL_TEXT_MAX} characters.")
        elif not is_label_text(key):
            out.error(
                path,
                "Label keys can only contain lowercase letters, numeric characters, "
                "underscores and dashes.",
            )
        elif not (key[0].isalpha() and not key[0].isupper()):
            out.warning(path, "Label keys should start with a lowercase letter.")
        if len(value) > LABEL_TEXT_MAX:
            out.error(path, f"Label values can be no longer than {LABEL_TEXT_MAX} characters.")
        elif not is_label_text(value):
            out.error(
                path,
                "Label values can only contain lowercase letters, numeric characters, "
                "underscores and dashes.",
            )


def encryption_key(ctx: Context, out: Findings) -> None:
    """``kms_key_name`` is a Cloud KMS key name in the job's region.

    Source: EncryptionSpec.kms_key_name docstring ("Has the form:
    projects/my-project/locations/my-region/keyRings/my-kr/cryptoKeys/my-key.
    The key needs to be in the same region as where the compute resource is
    created.").
    """
    if not ctx.job.HasField("encryption_spec"):
        return
    name = ctx.job.encryption_spec.kms_key_name
    if not name:
        return  # the required-field rule reports it
    path = "encryption_spec.kms_key_name"
    match = KMS_KEY.fullmatch(name)
    if match is None:
        out.error(
            path,
            "`kms_key_name` must have the form "
            "projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key}.",
        )
    elif ctx.location and match.group(1) != ctx.location:
        out.error(
            path,
            f"The key is in {match.group(1)}; it must be in the job's region {ctx.location}.",
        )


RULES = (display_name_length, labels, encryption_key)
