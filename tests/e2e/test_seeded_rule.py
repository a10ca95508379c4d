"""make run seeds the automation rule of infra/local/rules.yaml through the API; a CRM user reads it back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from infra.local.run import SEEDED_RULE_FILE
from tests.e2e.test_crm_api import get

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_the_seeded_rule_is_read_through_the_api(local_stack: LocalStack) -> None:
    rule_id = local_stack.state["automation_rule_id"]
    answer = get(local_stack, f"/automation-rules/{rule_id}")
    assert answer.status_code == 200, answer.text
    rule = answer.json()
    seeded = yaml.safe_load(SEEDED_RULE_FILE.read_text())
    assert {key: rule[key] for key in seeded} == seeded
    assert (rule["version"], rule["updatedBy"], rule["pipelineId"]) == (1, "user-1", "pipeline-1")
    listed = get(local_stack, "/automation-rules").json()
    assert [r["ruleId"] for r in listed["rules"]] == [rule_id]
    # Through the gateway's JWT authorizer: no token, no rule; the dev user's token reads, not writes.
    assert get(local_stack, f"/automation-rules/{rule_id}", token="").status_code == 401
    refused = httpx.delete(
        f"{local_stack.state['api_url']}/automation-rules/{rule_id}",
        params={"version": "1"},
        headers={"Authorization": f"Bearer {local_stack.state['api_token']}"},
        timeout=10,
        trust_env=False,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
