"""A deal moved into the seeded rule's stage over make run: one envelope goes out, once."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.docusign_sim import SimulatorControl
from infra.local.stage import DEFAULT_CONTACTS, stage_changed
from tests.docusign_support import envelopes_of_deal
from tests.e2e.test_crm_api import get
from tests.e2e.test_local_stack import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def publish(stack: LocalStack, detail: dict[str, Any]) -> None:
    stack.client("events").put_events(
        Entries=[
            {
                "Source": stack.state["crm_event_source"],
                "DetailType": "deal.stage_changed",
                "Detail": json.dumps(detail),
                "EventBusName": stack.state["event_bus_name"],
            }
        ]
    )


def test_a_deal_entering_the_rules_stage_is_sent_its_document_once(local_stack: LocalStack) -> None:
    sim = SimulatorControl(local_stack.state["docusign_url"])

    def of_deal(deal_id: str = "deal-e2e-7") -> list[dict[str, Any]]:
        return envelopes_of_deal(sim, deal_id)

    detail = stage_changed(
        local_stack.state, deal="deal-e2e-7", title="E2E deal", stage="contract", contacts=DEFAULT_CONTACTS,
        at="2026-12-02T10:00:00.000Z",
    )  # fmt: skip
    publish(local_stack, detail)
    (envelope,) = eventually(of_deal, "the seeded rule's envelope in the simulator")
    assert envelope["emailSubject"] == "Please sign: E2E deal"
    tracker = eventually(
        lambda: (
            (answer := get(local_stack, f"/envelopes/{envelope['envelopeId']}")).status_code == 200
            and answer.json()
        ),
        "the envelope through the API",
    )
    assert tracker["dealId"] == "deal-e2e-7"
    publish(local_stack, detail)  # the CRM sends the same change again
    publish(local_stack, {**detail, "toStageId": "contract", "updatedAt": "2026-12-02T09:00:00.000Z"})  # late
    # The rule's events are handled in order: once a later deal's envelope is out, both were handled.
    publish(local_stack, {**detail, "dealId": "deal-e2e-8"})
    eventually(lambda: of_deal("deal-e2e-8"), "the next deal's envelope")
    assert [e["envelopeId"] for e in of_deal()] == [envelope["envelopeId"]]
