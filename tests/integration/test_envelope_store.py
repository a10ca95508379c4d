"""The store's DynamoDB expressions implement the domain's ordering rule exactly."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings

from dealwire.domain.changes import apply_in_memory, plan_writes
from dealwire.store.envelopes import EnvelopeStore, item_key
from dealwire.store.table import envelope_key as table_key
from tests.integration.helpers import table
from tests.unit.test_changes import arrivals

if TYPE_CHECKING:
    from dealwire.domain.envelope_event import ConnectEvent
    from infra.local.template import Stack

_envelopes = itertools.count()
# Attributes only the store adds (keys and index keys); the rest must match the reference.
STORE_ONLY = {"pk", "sk", "gsi_deal_pk", "gsi_deal_sk", "gsi_inflight_pk", "gsi_inflight_sk", "write_id"}


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
    assert item_key("acme", "e-1", envelope_write).pk.startswith("T#acme#")


def _record(store: EnvelopeStore, tenant: str, envelope_id: str, status: str, minute: int) -> None:
    from dealwire.domain.envelope_event import ConnectEvent, EnvelopeState
    from dealwire.domain.status import EnvelopeStatus

    stamp = f"2024-03-04T16:{minute:02d}:00.0000000Z"
    event = ConnectEvent(
        wire_format="sim",
        event=f"envelope-{status}",
        account_id="a",
        envelope_id=envelope_id,
        generated=stamp,
        snapshot=True,
        envelope=EnvelopeState(
            status=EnvelopeStatus(status), deal_id="d-1", timestamps={"created_at": stamp}
        ),
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
    from dealwire.store.table import InvalidCursor

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


def _large(envelope_id: str, status: str, recipient_status: str, minute: int, count: int) -> ConnectEvent:
    from dealwire.domain.envelope_event import ConnectEvent, EnvelopeState, RecipientState
    from dealwire.domain.status import EnvelopeStatus, RecipientStatus

    stamp = f"2024-03-04T16:{minute:02d}:00.0000000Z"
    return ConnectEvent(
        wire_format="sim",
        event=f"envelope-{status}",
        account_id="a",
        envelope_id=envelope_id,
        generated=stamp,
        snapshot=True,
        envelope=EnvelopeState(
            status=EnvelopeStatus(status), deal_id="d-1", timestamps={"created_at": stamp}
        ),
        recipients=tuple(
            RecipientState(
                recipient_id=str(number),
                status=RecipientStatus(recipient_status),
                recipient_type="signer",
                routing_order=1,
                name=f"Signer {number}",
                email=f"s{number}@example.com",
            )
            for number in range(1, count + 1)
        ),
    )


def test_a_thousand_recipients_cut_off_midway_never_regress_and_converge(aws: Stack) -> None:
    """More items than a transaction holds (1,000 recipients: 11 transactions).

    Recipients go first and the envelope last, so a reader between two transactions sees
    some recipients newer and the envelope as it was, never anything older; cut off by a
    failure, the redelivery re-applies what landed as stale and ends exactly where the
    reference semantics end; the envelope's own change comes only in the last transaction.
    """
    from botocore.exceptions import ClientError

    store = EnvelopeStore(table(aws))
    envelope_key = table_key("t", "big").item()
    seen: list[tuple[str | None, int]] = []
    calls = {"n": 0}

    def observe_then_fail_the_sixth(**_: Any) -> None:
        item = store.client.get_item(TableName=table(aws), Key=envelope_key).get("Item", {})
        signed = store.client.query(
            TableName=table(aws),
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            FilterExpression="#s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":p": envelope_key["pk"],
                ":r": {"S": "RCP#"},
                ":done": {"S": "completed"},
            },
            Select="COUNT",
        )["Count"]
        seen.append((item.get("status", {}).get("S"), signed))
        calls["n"] += 1
        if calls["n"] == 6:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "lost"}}, "TransactWriteItems"
            )

    event = _large("big", "completed", "completed", 2, 1000)
    writes = plan_writes(event, tenant_id="t", archive_key="k")
    events = store.client.meta.events
    for operation in ("TransactWriteItems", "UpdateItem"):
        events.register(f"before-call.dynamodb.{operation}", observe_then_fail_the_sixth)
    with pytest.raises(ClientError):
        store.apply("t", "big", writes)
    again = store.apply("t", "big", writes)  # DocuSign redelivers the same message
    for operation in ("TransactWriteItems", "UpdateItem"):
        events.unregister(f"before-call.dynamodb.{operation}", observe_then_fail_the_sixth)

    assert (again.fresh, again.stale) == (501, 500)
    statuses = [status for status, _ in seen]
    assert statuses[:-1] == [None] * (len(seen) - 1)  # the envelope appears only in the last one
    signed = [count for _, count in seen]
    assert signed == sorted(signed)  # never back
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for write in writes:
        expected[(write.kind, write.recipient_id)], _ = apply_in_memory(None, write)
    view = store.tracker("t", "big")
    assert view is not None
    assert (view.envelope["status"], view.signed, view.signers) == ("completed", 1000, 1000)
    stored = {("envelope", ""): view.envelope} | {
        ("recipient", str(r["recipient_id"])): r for r in view.recipients
    }
    assert {
        k: {a: v for a, v in item.items() if a not in STORE_ONLY} for k, item in stored.items()
    } == expected


def test_a_commit_whose_answer_was_lost_is_reported_as_applied(aws: Stack) -> None:
    """botocore retries an UpdateItem whose answer timed out; the retry finds its own write."""
    store = EnvelopeStore(table(aws))
    retried = {"done": False}

    def lose_first_answer(attempts: int, **_: Any) -> float | None:
        if attempts == 1 and not retried["done"]:
            retried["done"] = True
            return 0.0  # as if the answer never came: send the same request again
        return None

    store.client.meta.events.register_first("needs-retry.dynamodb.UpdateItem", lose_first_answer)
    _record(store, "t", "e-1", "sent", 1)  # warm up: the envelope exists
    retried["done"] = False
    from dealwire.domain.envelope_event import ConnectEvent, EnvelopeState
    from dealwire.domain.status import EnvelopeStatus

    event = ConnectEvent(
        wire_format="sim",
        event="envelope-delivered",
        account_id="a",
        envelope_id="e-1",
        generated="2024-03-04T16:05:00.0000000Z",
        snapshot=True,
        envelope=EnvelopeState(status=EnvelopeStatus.DELIVERED),
    )
    result = store.apply("t", "e-1", plan_writes(event, tenant_id="t", archive_key="k"))
    store.client.meta.events.unregister("needs-retry.dynamodb.UpdateItem", lose_first_answer)
    assert retried["done"]
    assert (result.fresh, result.stale) == (1, 0)


def test_every_transaction_carries_one_token_across_botocore_retries(aws: Stack) -> None:
    """DynamoDB answers a repeated committed transaction with success for ten minutes."""
    import json

    store = EnvelopeStore(table(aws))
    bodies: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        bodies.append(json.loads(request.body))

    def retry_once(attempts: int, **_: Any) -> float | None:
        return 0.0 if attempts == 1 else None

    events = store.client.meta.events
    events.register_first("before-send.dynamodb.TransactWriteItems", capture)
    events.register_first("needs-retry.dynamodb.TransactWriteItems", retry_once)
    store.apply("t", "e-2", plan_writes(_large("e-2", "sent", "sent", 1, 2), tenant_id="t", archive_key="k"))
    events.unregister("before-send.dynamodb.TransactWriteItems", capture)
    events.unregister("needs-retry.dynamodb.TransactWriteItems", retry_once)
    tokens = [body.get("ClientRequestToken") for body in bodies]
    assert len(tokens) >= 2
    assert tokens[0]
    assert tokens[0] == tokens[1]
