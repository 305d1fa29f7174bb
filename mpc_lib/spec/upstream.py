"""Stage 3, upstream: our operations against the spec their provider publishes.

For an operation whose server is a provider with a published spec (FAL), the
server + path + method must exist upstream, the auth scheme must match, and the
parameters and response (and request body) schemas must be compatible.  The
upstream spec ships as package data: the operations we use in full, plus an index
(path, method, operationId, security) of every other published operation, so a
path that exists upstream is never reported missing (see `published`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .compat import compare_schemas
from .document import SpecDocument, escape_token
from .findings import Finding, StageResult, finding_at
from .published import UpstreamOperation, UpstreamSpec, load_upstream, schemes, upstream_for
from .walk import (
    Operation,
    deref,
    effective_security,
    effective_servers,
    iter_operations,
    json_media,
    operation_parameters,
    url_path,
)

__all__ = ["check_upstream"]

STAGE = "upstream"
_PREFIX = re.compile(r'prefixed with \\?"(\w+) ')
_MAX_SCHEMA_FINDINGS = 30


# --- the check -----------------------------------------------------------------------


def check_upstream(document: SpecDocument) -> StageResult:
    """Compare every operation served by a provider that publishes a spec.

    Operations merged from our own service (`x-mpc-source`, see `merge_openapi`) have no
    upstream: the service generates them, so they are counted in `details["own"]` only.
    """
    data = document.data
    findings: list[Finding] = []
    pairings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    checked: list[str] = []
    unchecked: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    for op in iter_operations(data):
        source = op.op.get("x-mpc-source")
        if isinstance(source, str):
            own[source] += 1
            continue
        hosts = {urlsplit(url).hostname: url for url in effective_servers(data, op)}
        for host, url in hosts.items():
            upstream = upstream_for(host)
            if upstream is None:
                unchecked[str(host)] += 1
                continue
            spec = load_upstream(upstream.name)
            full = url_path(url) + "/" + op.path.lstrip("/")
            entry = spec.find(op.method, full)
            compared_with = ""
            if entry is None:
                suggestion = spec.suggest(op.method, full)
                hint = f"; did you mean {suggestion.label}?" if suggestion else ""
                findings.append(
                    finding_at(
                        document,
                        STAGE,
                        "upstream-path",
                        "error",
                        f"{op.method.upper()} {url.rstrip('/')}/{op.path.lstrip('/')} does not"
                        f" exist in {upstream.title}'s published spec{hint}",
                        op.pointer,
                    )
                )
                if suggestion is None:
                    continue
                entry, compared_with = suggestion, f" (compared with {suggestion.label})"
            checked.append(f"{op.label} -> {upstream.title} {entry.label}")
            findings += _check_auth(document, op, spec, entry, compared_with, pairings)
            if entry.op is None:
                findings.append(
                    finding_at(
                        document,
                        STAGE,
                        "upstream-detail",
                        "info",
                        f"{upstream.title} {entry.label}: only its path and auth are shipped;"
                        " parameters and schemas were not compared",
                        op.pointer,
                    )
                )
                continue
            findings += _check_parameters(document, op, spec, entry, compared_with)
            findings += _check_bodies(document, op, spec, entry, compared_with)
    findings += _conflated_schemes(document, pairings)
    for host, count in sorted(unchecked.items()):
        findings.append(
            finding_at(
                document,
                STAGE,
                "upstream-unpublished",
                "info",
                f"{host} publishes no OpenAPI spec we ship: {count} operation(s) not checked"
                " upstream",
            )
        )
    return StageResult(STAGE, findings, details={"checked": checked, "own": dict(own)})


# --- auth ----------------------------------------------------------------------------


def _wire(scheme: dict[str, Any] | None) -> tuple[str, str, str | None] | None:
    """How a scheme puts the credential on the wire: (where, header/param name, prefix)."""
    if not isinstance(scheme, dict):
        return None
    kind = str(scheme.get("type", ""))
    if kind == "apiKey":
        match = _PREFIX.search(str(scheme.get("description", "")))
        return (
            str(scheme.get("in", "")),
            str(scheme.get("name", "")).lower(),
            match.group(1) if match else None,
        )
    if kind == "http":
        return ("header", "authorization", str(scheme.get("scheme", "")).capitalize() or None)
    return (kind, "", None)


def _same_wire(ours: tuple[str, str, str | None] | None, theirs: tuple | None) -> bool:
    if ours is None or theirs is None:
        return False
    if ours[:2] != theirs[:2]:
        return False
    return ours[2] is None or theirs[2] is None or ours[2].lower() == theirs[2].lower()


def _describe(name: str, scheme: dict[str, Any] | None) -> str:
    wire = _wire(scheme)
    if wire is None:
        return f"{name} (undeclared)"
    where, header, prefix = wire
    if where in ("header", "query", "cookie") and header:
        shown = (
            f"{header.title() if where == 'header' else header}: {prefix + ' ' if prefix else ''}…"
        )
        return f"{name} ({where} {shown})"
    return f"{name} ({where})"


def _check_auth(
    document: SpecDocument,
    op: Operation,
    spec: UpstreamSpec,
    entry: UpstreamOperation,
    compared: str,
    pairings: dict[str, dict[str, list[str]]],
) -> Iterator[Finding]:
    title = spec.upstream.title
    theirs = [req for req in entry.security or [] if req]
    if not theirs:
        return
    ours_declared = schemes(document.data)
    ours = [req for req in effective_security(document.data, op) or [] if req]
    expected = " or ".join(
        " + ".join(_describe(name, spec.scheme(name)) for name in req) for req in theirs
    )
    if not ours:
        yield finding_at(
            document,
            STAGE,
            "upstream-auth",
            "error",
            f"{title} requires {expected} for {entry.label}; {op.label} declares no security"
            f"{compared}",
            op.pointer,
        )
        return
    for requirement in ours:
        for name in requirement:
            match = next(
                (
                    their
                    for req in theirs
                    for their in req
                    if _same_wire(_wire(ours_declared.get(name)), _wire(spec.scheme(their)))
                ),
                None,
            )
            if match is None:
                yield finding_at(
                    document,
                    STAGE,
                    "upstream-auth",
                    "error",
                    f"{op.label} sends {_describe(name, ours_declared.get(name))}; {title}"
                    f" expects {expected} for {entry.label}{compared}",
                    f"{op.pointer}/security",
                )
            else:
                required = next(req for req in theirs if match in req)
                pairings[name][" + ".join(required)].append(op.label)


def _conflated_schemes(
    document: SpecDocument, pairings: dict[str, dict[str, list[str]]]
) -> Iterator[Finding]:
    """One of our schemes standing for two upstream schemes (an API key and an admin key)."""
    for name, by_theirs in pairings.items():
        if len(by_theirs) < 2:
            continue
        parts = "; ".join(
            f"{theirs} for {', '.join(ops[:3])}{' …' if len(ops) > 3 else ''}"
            for theirs, ops in sorted(by_theirs.items())
        )
        yield finding_at(
            document,
            STAGE,
            "upstream-auth",
            "error",
            f"security scheme {name!r} stands for different upstream schemes ({parts}): the"
            " provider needs a different key for each, so declare one scheme per key",
            f"/components/securitySchemes/{escape_token(name)}",
        )


# --- parameters and bodies -----------------------------------------------------------


def _check_parameters(
    document: SpecDocument,
    op: Operation,
    spec: UpstreamSpec,
    entry: UpstreamOperation,
    compared: str,
) -> Iterator[Finding]:
    title = spec.upstream.title
    upstream_op = Operation(entry.path, entry.method, "", entry.op or {}, entry.item)
    ours = operation_parameters(document.data, op)
    theirs = operation_parameters(spec.document.data, upstream_op)
    for key, (_, param) in theirs.items():
        if key not in ours and param.get("required") is True:
            yield finding_at(
                document,
                STAGE,
                "upstream-parameters",
                "error",
                f"{title} requires {key[1]} parameter {key[0]!r} on {entry.label};"
                f" {op.label} does not declare it{compared}",
                op.pointer,
            )
    for key, (pointer, param) in ours.items():
        if key[1] == "header" and key[0].lower() == "authorization":
            continue  # auth is the security check's business
        if key not in theirs:
            yield finding_at(
                document,
                STAGE,
                "upstream-parameters",
                "error",
                f"{key[1]} parameter {key[0]!r} does not exist on {title} {entry.label}{compared}",
                pointer,
            )
            continue
        their_param = theirs[key][1]
        if their_param.get("required") is True and param.get("required") is not True:
            yield finding_at(
                document,
                STAGE,
                "upstream-parameters",
                "error",
                f"{key[1]} parameter {key[0]!r} is required by {title}; here it is optional",
                pointer,
            )
        elif param.get("required") is True and their_param.get("required") is not True:
            yield finding_at(
                document,
                STAGE,
                "upstream-parameters",
                "warning",
                f"{key[1]} parameter {key[0]!r} is optional at {title}; here it is required",
                pointer,
            )
        # what we send must be accepted: ours is the narrow side
        for issue in compare_schemas(
            param.get("schema"),
            their_param.get("schema"),
            narrow_doc=document.data,
            wide_doc=spec.document.data,
            narrow_name="this spec",
            wide_name=title,
        )[:_MAX_SCHEMA_FINDINGS]:
            yield finding_at(
                document,
                STAGE,
                "upstream-parameters",
                issue.severity,
                f"{key[1]} parameter {key[0]!r}: {issue.message}",
                f"{pointer}/schema",
            )


def _success_schema(data: dict[str, Any], op: dict[str, Any]) -> tuple[str, Any] | None:
    responses = op.get("responses")
    if not isinstance(responses, dict):
        return None
    for status in sorted(str(s) for s in responses):
        if status.startswith("2"):
            media = json_media(deref(data, responses[status]))
            if media is not None and isinstance(media[1], dict) and "schema" in media[1]:
                return f"responses/{escape_token(status)}", media[1]["schema"]
    return None


def _check_bodies(
    document: SpecDocument,
    op: Operation,
    spec: UpstreamSpec,
    entry: UpstreamOperation,
    compared: str,
) -> Iterator[Finding]:
    title = spec.upstream.title
    ours_response = _success_schema(document.data, op.op)
    theirs_response = _success_schema(spec.document.data, entry.op or {})
    if ours_response and theirs_response:
        # what the provider sends must fit what we accept: theirs is the narrow side
        for issue in compare_schemas(
            theirs_response[1],
            ours_response[1],
            narrow_doc=spec.document.data,
            wide_doc=document.data,
            narrow_name=title,
            wide_name="this spec",
        )[:_MAX_SCHEMA_FINDINGS]:
            yield finding_at(
                document,
                STAGE,
                "upstream-response",
                issue.severity,
                f"{op.label} response {issue.where}: {issue.message}{compared}",
                f"{op.pointer}/{ours_response[0]}",
            )
    ours_body = json_media(deref(document.data, op.op.get("requestBody")))
    theirs_body = json_media(deref(spec.document.data, (entry.op or {}).get("requestBody")))
    if ours_body and theirs_body and isinstance(ours_body[1], dict):
        for issue in compare_schemas(
            ours_body[1].get("schema"),
            (theirs_body[1] or {}).get("schema"),
            narrow_doc=document.data,
            wide_doc=spec.document.data,
            narrow_name="this spec",
            wide_name=title,
        )[:_MAX_SCHEMA_FINDINGS]:
            yield finding_at(
                document,
                STAGE,
                "upstream-request",
                issue.severity,
                f"{op.label} request body {issue.where}: {issue.message}{compared}",
                f"{op.pointer}/requestBody",
            )
