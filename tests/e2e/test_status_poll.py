"""`make run`'s poller: with Connect off, one `python -m infra.local.tick status_poll` catches up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from infra.docusign_sim import SimulatorControl
from infra.local.stage import DEFAULT_CONTACTS, stage_changed
from infra.local.tick import TickFailed, tick_command
from tests.docusign_support import envelopes_of_deal
from tests.e2e.test_crm_api import get
from tests.e2e.test_local_stack import eventually
from tests.e2e.test_stage_automation import publish

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def tick(stack: LocalStack) -> list[dict[str, Any]]:
    """The README's command, as a newcomer runs it against the stack."""
    try:
        return tick_command(stack.log.with_name("local.json"))
    except TickFailed as exc:
        pytest.fail(f"tick failed: {exc}")


def test_one_tick_reconciles_an_envelope_signed_while_connect_was_off(local_stack: LocalStack) -> None:
    sim = SimulatorControl(local_stack.state["docusign_url"])
    detail = stage_changed(
        local_stack.state,
        deal="deal-e2e-poll",
        title="Poll deal",
        stage="contract",
        contacts=DEFAULT_CONTACTS,
    )
    publish(local_stack, detail)
    (envelope,) = eventually(lambda: envelopes_of_deal(sim, "deal-e2e-poll"), "the rule's envelope")
    envelope_id = envelope["envelopeId"]
    eventually(
        lambda: get(local_stack, f"/envelopes/{envelope_id}").status_code == 200, "the envelope in dealwire"
    )
    sim.connect_off()
    try:
        for recipient in ("1", "2"):
            sim.sign(envelope_id, recipient)
        assert get(local_stack, f"/envelopes/{envelope_id}").json()["status"] == "sent"  # no callback came

        fired, cycle = tick(local_stack)

        assert fired["answer"]["queued"] == 1
        assert cycle["cycle"]["outcome"] == "done"
        assert cycle["cycle"]["reconciled"] >= 1
        tracker = get(local_stack, f"/envelopes/{envelope_id}").json()
        assert (tracker["status"], tracker["progress"]) == ("completed", "2/2 signed")
        assert tracker["lastChangeSource"] == "poll"  # marked: Connect had not brought it

        # The document job follows from the stream, as after a callback.
        def combined_available() -> bool:
            documents = get(local_stack, f"/envelopes/{envelope_id}").json()["documents"]
            return any(d["documentId"] == "combined" and d["available"] for d in documents)

        eventually(combined_available, "the signed PDF stored")
    finally:
        sim.connect_on()
