"""Schemathesis against docs/openapi.json over make run: no 5xx, and no answer outside the contract.

Bounded (25 examples per operation, derandomized) so it costs seconds, with the dev
token so the calls reach the function rather than the gateway's 401.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.local.api_docs import OPENAPI

if TYPE_CHECKING:
    from schemathesis import Case

    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: Case, local_stack: LocalStack) -> None:
    token = local_stack.state["api_token"]
    case.call_and_validate(
        base_url=local_stack.state["http_url"],
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        allow_redirects=False,
        timeout=10,
    )
