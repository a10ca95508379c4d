"""Every DynamoDB request the store builds is valid for botocore's model.

The DynamoDB client skips botocore's client-side parameter validation (it is most of the
webhook's own CPU per event); this is where that validation happens instead, over every
fixture message, fresh and stale.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from dealwire.contracts.connect_message import parse_connect_message
from dealwire.domain.changes import plan_writes
from dealwire.store.envelopes import build_update
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
