"""Problems found in a CustomJob and the ways Vertex and our tools show them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding: the snake_case field path, a Vertex-style message, its severity."""

    field: str
    message: str
    severity: Severity


@dataclass
class ValidationReport:
    """Every problem of one job, errors and warnings apart, each in document order."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when Vertex would accept the job (warnings do not count)."""
        return not self.errors

    def as_strict(self) -> ValidationReport:
        """This report with every warning made an error (after the errors): what
        ``strict`` means for ``validate``, ``submit`` and ``cjob-emu validate/run``."""
        promoted = [replace(p, severity="error") for p in self.warnings]
        return ValidationReport(errors=[*self.errors, *promoted], warnings=[])

    def vertex_message(self) -> str:
        """The errors as the text of Vertex's 400 answer; "" when there are none.

        ``List of found errors:\\t1.Field: <path>; Message: <text>\\t2.Field: ...\\t``
        """
        if not self.errors:
            return ""
        found = "".join(
            f"{i}.Field: {p.field}; Message: {p.message}\t" for i, p in enumerate(self.errors, 1)
        )
        return f"List of found errors:\t{found}"

    def field_violations(self) -> list[dict[str, str]]:
        """The errors as the ``fieldViolations`` of a ``google.rpc.BadRequest``."""
        return [{"field": p.field, "description": p.message} for p in self.errors]

    def to_rpc_error(self) -> dict[str, Any]:
        """The JSON body of Vertex's ``400 INVALID_ARGUMENT`` answer for these errors."""
        return {
            "error": {
                "code": 400,
                "message": self.vertex_message(),
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": self.field_violations(),
                    }
                ],
            }
        }

    def to_dict(self) -> dict[str, Any]:
        """``{"valid": bool, "errors": [{"field", "message"}], "warnings": [...]}``."""
        return {
            "valid": self.ok,
            "errors": [{"field": p.field, "message": p.message} for p in self.errors],
            "warnings": [{"field": p.field, "message": p.message} for p in self.warnings],
        }
