"""Every DynamoDB request the store builds is valid for botocore's model.

The DynamoDB client skips botocore's client-side parameter validation (it is most of the
webhook's own CPU per event); this is where that validation happens instead, over every
fixture message, fresh and stale.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.session import get_session
from botocore.validate import ParamValidator
from hypothesis import given
from hypothesis import strategies as st

from dealwire.contracts.connect_message import parse_connect_message
from dealwire.domain.changes import plan_writes
from dealwire.store.envelopes import build_update
from dealwire.store.table import attribute_value
from tests.support import ACCOUNT_ID, EVENTS

if TYPE_CHECKING:
    from pathlib import Path

MODEL = get_session().get_service_model("dynamodb")
FIXTURES = sorted(p for p in (EVENTS / "docusign").iterdir() if p.suffix in {".json", ".xml"})


def valid(operation: str, params: dict[str, Any]) -> None:
    report = ParamValidator().validate(params, MODEL.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_updates_and_transactions_match_the_dynamodb_model(fixture: Path) -> None:
    event = parse_connect_message(
        fixture.read_bytes(),
        "text/xml" if fixture.suffix == ".xml" else "application/json",
        account_id=ACCOUNT_ID,
        account_zone=UTC,
    )
    writes = plan_writes(event, tenant_id="t", archive_key="connect/t/e/k.json", documents=None)
    for stale in (None, frozenset({"tenant_id"})):
        updates = [
            u for w in writes if (u := build_update("table", "t", event.envelope_id, w, stale_with=stale))
        ]
        for update in updates:
            valid("UpdateItem", update)
        valid("TransactWriteItems", {"TransactItems": [{"Update": u} for u in updates]})


def test_a_document_map_is_a_valid_attribute() -> None:
    from tests.unit.test_changes import snapshot_timeline

    documents: dict[str, Any] = {
        "1": {"key": "k", "sha256": "ab", "size": 10, "name": "n", "kind": "content"}
    }
    (envelope_write, *_) = plan_writes(
        snapshot_timeline(1)[-1], tenant_id="t", archive_key="k", documents=documents
    )
    update = build_update("table", "t", "e", envelope_write)
    assert update is not None
    valid("UpdateItem", update)


def test_a_thousand_recipients_are_batched_recipients_first_and_the_envelope_last() -> None:
    from dealwire.domain.changes import ItemWrite
    from dealwire.store.envelopes import _batches

    envelope = ItemWrite("envelope", "", "o")
    recipients = [ItemWrite("recipient", str(n), "o") for n in range(1, 1001)]
    batches = _batches([envelope, *recipients])
    assert len(batches) == 11
    assert all(len(batch) <= 100 for batch in batches)
    assert [w for batch in batches[:-1] for w in batch if w.kind == "envelope"] == []
    assert batches[-1][0] is envelope
    assert [
        w for batch in batches for w in batch if w.kind == "recipient"
    ] == recipients  # each once, in order
    assert _batches([envelope, *recipients[:99]]) == [
        [envelope, *recipients[:99]]
    ]  # 100 items: one transaction


def test_an_unknown_status_orders_nothing_and_is_kept_raw() -> None:
    from dealwire.domain.envelope_event import ConnectEvent, EnvelopeState, RecipientState

    event = ConnectEvent(
        wire_format="sim",
        event="envelope-completed",
        account_id="a",
        envelope_id="e",
        generated="2024-01-01T00:00:00.0000000Z",
        snapshot=True,
        envelope=EnvelopeState(status=None, reported_status="bogus-status"),
        recipients=(RecipientState(recipient_id="1", status=None, reported_status="12345"),),
    )
    envelope, recipient = plan_writes(event, tenant_id="t", archive_key="k")
    assert envelope.order is None  # not "completed" by its event name either
    assert envelope.fill["reported_status"] == "bogus-status"
    assert "status" not in envelope.ordered
    assert recipient.order is None
    assert recipient.fill["reported_status"] == "12345"


_STORABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.text()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(_STORABLE)
def test_attribute_values_are_what_boto3s_serializer_writes(value: Any) -> None:
    try:
        expected = TypeSerializer().serialize(value)
    except (ValueError, ArithmeticError):  # beyond DynamoDB's 38 digits: the refusal stands
        with pytest.raises((ValueError, ArithmeticError)):
            attribute_value(value)
        return
    assert attribute_value(value) == expected
