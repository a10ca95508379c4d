"""Envelopes walked through the DocuSign simulator, its Connect callbacks landing in the webhook.

The simulator signs and shapes callbacks with its own code; the webhook runs in-process
under moto behind the local gateway, so this is dealwire against DocuSign's behaviour,
not against dealwire's own fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dealwire.store.envelopes import EnvelopeStore
from infra.docusign_sim import SimulatorControl
from tests.integration.helpers import table
from tests.support import TENANT_ID

if TYPE_CHECKING:
    from infra.docusign_sim import Simulator
    from infra.local.template import Stack
    from tests.infra.test_docusign_sim import Api


def walk_to_completion(api: Api, control: SimulatorControl) -> str:
    envelope_id = api.create()
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)
    return envelope_id


@pytest.mark.parametrize("connect_format", ["json", "xml"])
def test_an_envelope_signed_in_docusign_ends_completed_in_dealwire(
    aws: Stack, sim: Simulator, api: Api, connect_format: str
) -> None:
    control = SimulatorControl(sim.url)
    control.configure(connectFormat=connect_format)
    envelope_id = walk_to_completion(api, control)
    callbacks = control.callbacks()
    assert callbacks, "the simulator sent no callback"
    assert {c.get("status") for c in callbacks} == {200}, callbacks
    view = EnvelopeStore(table(aws)).tracker(TENANT_ID, envelope_id)
    assert view is not None
    assert view.envelope["status"] == "completed"
    assert view.envelope["deal_id"] == "deal-1001"
    assert view.progress == "2/2 signed"


def test_a_decline_in_docusign_is_recorded_with_its_reason(aws: Stack, sim: Simulator, api: Api) -> None:
    control = SimulatorControl(sim.url)
    envelope_id = api.create()
    control.sign(envelope_id, "1")
    control.decline(envelope_id, "2", "The price in section 3 is wrong.")
    view = EnvelopeStore(table(aws)).tracker(TENANT_ID, envelope_id)
    assert view is not None
    assert view.envelope["status"] == "declined"
    declined = next(r for r in view.recipients if r["status"] == "declined")
    assert declined["decline_reason"] == "The price in section 3 is wrong."
    assert view.progress == "1/2 signed"
