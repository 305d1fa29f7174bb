"""Schemathesis against MPC-API's own OpenAPI: no 5xx, and every answer matches its schema.

Driven through Hypothesis directly (one bounded run per operation), since schemathesis's
pytest plugin does not load under this pytest.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES_PER_OPERATION = 12
# A schema-valid body may still name a model or job that does not exist: a 400, by design.
SEMANTIC_400 = {"POST /v1/chat/completions", "POST /api/chat/completions", "POST /api/orchestrate"}


def test_mpc_api_honours_its_own_openapi(mpc_api: Any) -> None:
    schema = schemathesis.openapi.from_url(
        f"{mpc_api.url}/openapi.json", headers=mpc_api.headers(), timeout=10
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = sorted(f"{op.method.upper()} {op.path}" for op in operations)
    assert "POST /v1/chat/completions" in labels and "GET /v1/models/{model_id}" in labels
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        _fuzz(
            operation,
            mpc_api.headers(),
            [positive_data_acceptance] if label in SEMANTIC_400 else [],
        )


def _fuzz(operation: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    """A bounded Hypothesis run over one operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, timeout=30, excluded_checks=excluded)

    check()
