"""openapi-spec-validator as shipped, its errors turned into findings placed in the file.

validate.py runs it only after its own $ref checks passed: every $ref is local and
resolves, so the validator neither fetches anything nor recurses forever.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from .document import SpecDocument, json_pointer
from .findings import Finding, finding_at

__all__ = ["MAX_VALIDATOR_FINDINGS", "run_validator"]

log = logging.getLogger("mpc_lib.spec")

STAGE = "validate"
MAX_VALIDATOR_FINDINGS = 200
_METHOD_IN_PATH = re.compile(r"for '(\w+)'(?: operation)? in '([^']+)'")


def run_validator(document: SpecDocument, covered: set[str]) -> list[Finding]:
    """The validator's errors as findings (those under `covered` pointers are said already)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    validator_class = (
        OpenAPIV30SpecValidator if document.minor == "3.0" else OpenAPIV31SpecValidator
    )
    validator = validator_class(document.data)
    try:
        for error in validator.iter_errors():
            pointer = _error_pointer(error)
            message = _first_line(str(getattr(error, "message", error)))
            if any(
                pointer == c or pointer.startswith(c + "/") or c.startswith(pointer + "/")
                for c in covered
                if pointer
            ):
                continue  # already said better by the version-feature check
            if (pointer, message) in seen:
                continue
            seen.add((pointer, message))
            if len(findings) >= MAX_VALIDATOR_FINDINGS:
                findings.append(
                    finding_at(
                        document,
                        STAGE,
                        "oas-structure",
                        "error",
                        f"more than {MAX_VALIDATOR_FINDINGS} structural errors; the rest are"
                        " not shown",
                    )
                )
                break
            findings.append(finding_at(document, STAGE, "oas-structure", "error", message, pointer))
    except RecursionError:
        findings.append(
            finding_at(
                document,
                STAGE,
                "oas-structure",
                "error",
                "openapi-spec-validator gave up: the schemas nest or refer to each other too"
                " deeply to follow",
            )
        )
    except Exception as exc:
        log.debug("openapi-spec-validator raised", exc_info=True)
        findings.append(
            finding_at(
                document,
                STAGE,
                "oas-structure",
                "error",
                f"openapi-spec-validator could not finish: {type(exc).__name__}:"
                f" {_first_line(str(exc))[:200]}",
            )
        )
    return findings


def _error_pointer(error: Any) -> str:
    parts = list(getattr(error, "absolute_path", ()) or ())
    if parts:
        return json_pointer(*parts)
    # The validator's own checks (duplicate operationId, unresolved path parameter) name the
    # operation only in their message.
    match = _METHOD_IN_PATH.search(str(getattr(error, "message", "")))
    if match:
        method, path = match.groups()
        return json_pointer("paths", path, method.lower())
    return ""


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0].strip()
