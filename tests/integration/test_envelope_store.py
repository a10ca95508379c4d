"""The store's DynamoDB expressions implement the domain's ordering rule exactly."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings

from dealwire.domain.changes import apply_in_memory, plan_writes
from dealwire.store.envelopes import EnvelopeStore, item_key
from tests.integration.helpers import table
from tests.unit.test_changes import arrivals

if TYPE_CHECKING:
    from dealwire.domain.connect import ConnectEvent
    from infra.local.template import Stack

_envelopes = itertools.count()
# Attributes only the store adds (keys and index keys); the rest must match the reference.
STORE_ONLY = {"pk", "sk", "gsi_deal_pk", "gsi_deal_sk", "gsi_inflight_pk", "gsi_inflight_sk"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=arrivals())
def test_dynamodb_ends_where_the_reference_semantics_end(
    aws: Stack, case: tuple[list[ConnectEvent], list[int]]
) -> None:
    events, order = case
    envelope_id = f"env-{next(_envelopes)}"
    events = [replace(event, envelope_id=envelope_id) for event in events]
    store = EnvelopeStore(table(aws))
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for index in order:
        writes = plan_writes(events[index], tenant_id="t", archive_key=f"archive/{index}")
        store.apply("t", envelope_id, writes)
        for write in writes:
            key = (write.kind, write.recipient_id)
            expected[key], _ = apply_in_memory(expected.get(key), write)
    view = store.tracker("t", envelope_id)
    assert view is not None
    stored = {("envelope", ""): view.envelope} | {
        ("recipient", str(r["recipient_id"])): r for r in view.recipients
    }
    assert {
        k: {a: v for a, v in item.items() if a not in STORE_ONLY} for k, item in stored.items()
    } == expected


@pytest.mark.usefixtures("aws")
def test_item_keys_put_the_tenant_first() -> None:
    from tests.unit.test_changes import snapshot_timeline

    (envelope_write, *_) = plan_writes(snapshot_timeline(1)[0], tenant_id="acme", archive_key="k")
    assert item_key("acme", "e-1", envelope_write)["pk"]["S"].startswith("T#acme#")


def _record(store: EnvelopeStore, tenant: str, envelope_id: str, status: str, minute: int) -> None:
    from dealwire.domain.connect import ConnectEvent, EnvelopeState

    stamp = f"2024-03-04T16:{minute:02d}:00.0000000Z"
    event = ConnectEvent(
        wire_format="sim",
        event=f"envelope-{status}",
        account_id="a",
        envelope_id=envelope_id,
        generated=stamp,
        snapshot=True,
        envelope=EnvelopeState(status=status, deal_id="d-1", timestamps={"created_at": stamp}),
    )
    store.apply(tenant, envelope_id, plan_writes(event, tenant_id=tenant, archive_key="k"))


def test_a_deals_envelopes_page_newest_first_with_an_opaque_cursor(aws: Stack) -> None:
    store = EnvelopeStore(table(aws))
    for minute in range(5):
        _record(store, "t", f"e-{minute}", "sent", minute)
    _record(store, "other", "e-x", "sent", 9)
    first = store.envelopes_of_deal("t", "d-1", limit=3)
    assert [item["envelope_id"] for item in first.items] == ["e-4", "e-3", "e-2"]
    assert first.cursor is not None
    second = store.envelopes_of_deal("t", "d-1", limit=3, cursor=first.cursor)
    assert [item["envelope_id"] for item in second.items] == ["e-1", "e-0"]
    assert second.cursor is None


def test_a_cursor_cannot_page_another_tenant(aws: Stack) -> None:
    from dealwire.store.envelopes import InvalidCursor

    store = EnvelopeStore(table(aws))
    for minute in range(3):
        _record(store, "t", f"e-{minute}", "sent", minute)
    cursor = store.envelopes_of_deal("t", "d-1", limit=1).cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        store.envelopes_of_deal("other", "d-1", cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.envelopes_of_deal("t", "d-1", cursor="not-a-cursor!")


def test_the_in_flight_sweep_holds_only_unfinished_envelopes_oldest_change_first(aws: Stack) -> None:
    store = EnvelopeStore(table(aws))
    _record(store, "t", "late", "sent", 30)
    _record(store, "t", "early", "delivered", 10)
    _record(store, "t", "done", "sent", 5)
    _record(store, "t", "done", "completed", 40)
    sweep = store.in_flight("t")
    assert [item["envelope_id"] for item in sweep.items] == ["early", "late"]


def test_documents_are_recorded_on_an_existing_envelope_only(aws: Stack) -> None:
    from botocore.exceptions import ClientError

    store = EnvelopeStore(table(aws))
    _record(store, "t", "e-1", "completed", 1)
    assert store.signed_documents("t", "e-1") == {}
    documents = {"combined": {"key": "k", "sha256": "ab", "size": 3, "name": "combined", "kind": "pdf"}}
    store.record_documents("t", "e-1", documents, "stored")
    store.record_documents("t", "e-1", documents, "stored")  # a repeated job changes nothing
    assert store.signed_documents("t", "e-1") == documents
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        store.record_documents("t", "missing", documents, "stored")
