"""A big spec gets a full answer: every stage runs, and a planted error is placed by line.

Big means twice FAL's published spec (0.77 MB), the largest real one the gate sees: 1 MiB
of operations, 1.5 MB as written.  (A 10 MB spec of this shape takes openapi-spec-validator
about a minute, so it is measured by bench/validator_bench.py, not run here.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mpc_lib.config import Settings
from mpc_lib.spec import check_spec

ONE_MB = 1024 * 1024


def big_spec(target_bytes: int = ONE_MB) -> dict[str, Any]:
    """Thousands of operations, each with its own response schema (shared parts included)."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Big", "version": "1.0.0"},
        "servers": [{"url": "https://api.example.com/v2"}],
        "paths": {},
        "components": {"schemas": {"Error": {"type": "object", "required": ["message"],
                                             "properties": {"message": {"type": "string"}}}}},
    }  # fmt: skip
    size, number = 0, 0
    while size < target_bytes:
        properties = {
            f"field_{number}_{k}": {
                "type": ["string", "integer", "number", "boolean"][k % 4],
                "description": f"Field {k} of item {number}: " + "x" * 40,
            }
            for k in range(20)
        }
        operation = {
            "operationId": f"getItem{number}",
            "summary": f"Item {number}",
            "tags": [f"Group {number % 50}"],
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object", "properties": properties,
                    "required": [f"field_{number}_0"],
                }, "example": {f"field_{number}_0": "a"}}}},
                "404": {"description": "missing", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }  # fmt: skip
        spec["paths"][f"/items/{number}"] = {"get": operation}
        size += len(json.dumps(operation)) + 20
        number += 1
    return spec


def test_a_big_spec_is_answered_in_full(tmp_path: Path) -> None:
    spec = big_spec()
    last = f"/items/{len(spec['paths']) - 1}"
    media = spec["paths"][last]["get"]["responses"]["200"]["content"]["application/json"]
    media["example"] = {f"field_{len(spec['paths']) - 1}_0": 42}  # a planted bad example
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec, indent=1))
    assert path.stat().st_size > ONE_MB

    report = check_spec(path, settings=Settings(outputs_dir=tmp_path), data=None)

    assert [s.status for s in report.stages] == ["pass", "fail", "pass", "skipped", "skipped"]
    [planted] = report.blocking
    assert planted.rule == "examples-valid"
    assert "42 is not of type 'string'" in planted.message
    line = path.read_text().splitlines()[planted.line - 1]
    assert line.strip().startswith('"example"')
    assert planted.pointer.startswith(f"/paths/~1items~1{len(spec['paths']) - 1}/get")
