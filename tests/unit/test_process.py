"""Whether a deal's signing process is still out: the rule both kinds of send claim by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dealwire.automation.process import Active, ProcessBusy, still_active
from dealwire.docusign.envelopes import SentEnvelope


class Envelopes:
    def __init__(self, **statuses: str) -> None:
        self.statuses = statuses

    def envelope(self, tenant_id: str, envelope_id: str) -> dict[str, Any] | None:
        status = self.statuses.get(envelope_id)
        return {"status": status} if status else None


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def nothing(send_id: str, since: datetime) -> SentEnvelope | None:
    return None


@pytest.mark.parametrize(
    ("holder", "statuses", "expected"),
    [
        ({"state": "failed", "send_id": "s"}, {}, None),
        ({"state": "sent", "send_id": "s", "envelope_id": "e1"}, {"e1": "completed"}, None),
        ({"state": "sent", "send_id": "s", "envelope_id": "e1"}, {"e1": "voided"}, None),
        ({"state": "sent", "send_id": "s", "envelope_id": "e1"}, {"e1": "delivered"}, Active("e1")),
        # Recorded as sent, but no callback or record of it yet: out, as far as anyone knows.
        ({"state": "sent", "send_id": "s", "envelope_id": "e1"}, {}, Active("e1")),
        ({"state": "claimed", "send_id": "s", "claimed_at": ago(60)}, {}, None),
    ],
)
def test_what_holds_a_process(
    holder: dict[str, Any], statuses: dict[str, str], expected: Active | None
) -> None:
    assert still_active(Envelopes(**statuses), "t", holder, nothing) == expected


def test_a_claim_being_sent_right_now_is_busy_and_a_crashed_one_is_looked_up() -> None:
    with pytest.raises(ProcessBusy):
        still_active(Envelopes(), "t", {"state": "claimed", "send_id": "s", "claimed_at": ago(1)}, nothing)
    asked: list[tuple[str, datetime]] = []

    def made_after_all(send_id: str, since: datetime) -> SentEnvelope | None:
        asked.append((send_id, since))
        return SentEnvelope(envelope_id="e9", status="sent")

    crashed = {"state": "claimed", "send_id": "s7", "claimed_at": ago(30)}
    assert still_active(Envelopes(), "t", crashed, made_after_all) == Active("e9")
    assert [send for send, _ in asked] == ["s7"]
