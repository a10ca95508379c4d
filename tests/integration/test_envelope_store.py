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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=arrivals())
def test_dynamodb_ends_where_the_reference_semantics_end(aws: Stack, case: tuple[list[ConnectEvent], list[int]]) -> None:
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
    assert {k: {a: v for a, v in item.items() if a not in STORE_ONLY} for k, item in stored.items()} == expected


@pytest.mark.usefixtures("aws")
def test_item_keys_put_the_tenant_first() -> None:
    from tests.unit.test_changes import snapshot_timeline

    (envelope_write, *_) = plan_writes(snapshot_timeline(1)[0], tenant_id="acme", archive_key="k")
    assert item_key("acme", "e-1", envelope_write)["pk"]["S"].startswith("T#acme#")
