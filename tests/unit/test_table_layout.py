"""The table's layout has one home: store/table.py. The README shows it; keys say what an item is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dealwire.domain.items import ItemKind
from dealwire.store import table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_data_model_is_the_modules() -> None:
    text = README.read_text()
    found = re.search(r"<!-- data-model:begin[^>]*-->\n(.*?)\n<!-- data-model:end -->", text, re.DOTALL)
    assert found, "README.md lost its data-model markers"
    assert found[1].strip() == table.markdown_layout(), "out of date: paste table.markdown_layout()"


def test_every_kind_has_one_layout_and_every_layout_a_builder_that_puts_the_tenant_first() -> None:
    assert sorted(layout.kind for layout in table.LAYOUT) == sorted(ItemKind)
    keys = {
        ItemKind.ENVELOPE: table.envelope_key("acme", "e"),
        ItemKind.RECIPIENT: table.recipient_key("acme", "e", "1"),
        ItemKind.THREAD: table.thread_key("acme", "t"),
        ItemKind.MESSAGE: table.message_key("acme", "t", "2026-01-01T00:00:00Z", "m"),
        ItemKind.MESSAGE_ID: table.message_id_key("acme", "m"),
        ItemKind.SUBJECT: table.subject_key("acme", "s"),
        ItemKind.CONTACT_THREAD: table.contact_thread_key("acme", "p", "2026-01-01T00:00:00Z", "t"),
        ItemKind.REJECTION: table.rejection_key("acme", "2026-01-01T00:00:00Z", "ses"),
        ItemKind.USER: table.user_key("acme", "u"),
        ItemKind.CONTACT: table.contact_key("acme", "A#B@Example.com"),
        ItemKind.PERSON: table.person_key("acme", "p"),
        ItemKind.PERSON_DEALS: table.person_deals_key("acme", "p"),
        ItemKind.DEAL: table.deal_key("acme", "d"),
        ItemKind.INTEGRATION: table.integration_key("acme"),
        ItemKind.CONSENT_STATE: table.consent_state_key("acme", "s"),
        ItemKind.RULE: table.rule_key("acme", "r"),
        ItemKind.DEAL_STAGE: table.deal_stage_key("acme", "d"),
        ItemKind.AUTOMATION: table.automation_key("acme", "d", "r"),
        ItemKind.IDEMPOTENCY: table.idempotency_key("acme", "api.send#0123abcd"),
        ItemKind.POLL_STATE: table.poll_state_key("acme"),
        ItemKind.API_BUDGET: table.api_budget_key("acme", "2026-12-02T10"),
    }
    assert set(keys) == set(ItemKind)
    for kind, key in keys.items():
        assert key.pk.startswith("T#acme#"), kind
        assert table.item_kind({"pk": key.pk, "sk": key.sk}) is kind


@pytest.mark.parametrize(
    "item",
    [
        {},
        {"pk": "T#a#ENV#e"},
        {"pk": "T#a#ENV#e", "sk": "SOMETHING"},
        {"pk": "X", "sk": "ENVELOPE"},
        {"pk": 1, "sk": 2},
    ],
)
def test_an_item_of_no_known_shape_has_no_kind(item: dict[str, object]) -> None:
    assert table.item_kind(item) is None


def test_index_partitions_are_the_tenants_too() -> None:
    assert table.deal_envelopes("acme", "d").startswith("T#acme#")
    assert table.deal_threads("acme", "d").startswith("T#acme#")
    assert table.in_flight("acme").startswith("T#acme#")
    assert table.deal_envelopes("acme", "d") != table.deal_threads("acme", "d")
