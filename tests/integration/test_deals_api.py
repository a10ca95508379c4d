"""GET /v1/deals and /v1/deals/{dealId} under moto: the CRM's deals as published, with what the rules did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealwire.store.automation import AutomationStore
from tests.integration.api_support import OTHER, ULLA, api, crm, seed_other_tenants_user
from tests.integration.helpers import RequestLog
from tests.mail_support import CARLA, seed_crm, table

if TYPE_CHECKING:
    from infra.local.template import Stack


def deal(deal_id: str, updated: str, **fields: object) -> None:
    crm(
        "deal.upserted",
        dealId=deal_id,
        title=fields.pop("title", deal_id),
        status=fields.pop("status", "open"),
        personIds=fields.pop("personIds", ["person-17"]),
        updatedAt=updated,
        **fields,
    )


def test_the_deals_are_listed_last_updated_first_and_paged(aws: Stack) -> None:
    seed_crm(aws, deals={})
    deal("deal-a", "2026-11-20T09:00:00Z")
    deal("deal-b", "2026-11-20T10:00:00Z")
    deal("deal-c", "2026-11-20T08:00:00Z")
    deal("deal-a", "2026-11-20T11:00:00Z", title="Renamed")  # updated last: moves to the top

    status, first = api("GET", "/v1/deals", query="limit=2", claims=ULLA)
    assert status == 200, first
    assert [(d["dealId"], d["title"]) for d in first["deals"]] == [
        ("deal-a", "Renamed"),
        ("deal-b", "deal-b"),
    ]
    assert first["deals"][0]["personIds"] == ["person-17"]
    status, rest = api("GET", "/v1/deals", query=f"limit=2&cursor={first['cursor']}", claims=ULLA)
    assert status == 200, rest
    assert [d["dealId"] for d in rest["deals"]] == ["deal-c"]
    assert rest["cursor"] is None


def test_a_deleted_deal_leaves_the_list_and_is_not_found(aws: Stack) -> None:
    seed_crm(aws, deals={"deal-a": ["person-17"], "deal-b": ["person-17"]})
    deal("deal-a", "2026-11-21T09:00:00Z", status="deleted", personIds=[])

    assert [d["dealId"] for d in api("GET", "/v1/deals", claims=ULLA)[1]["deals"]] == ["deal-b"]
    status, body = api("GET", "/v1/deals/deal-a", claims=ULLA)
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_another_tenants_caller_sees_none_of_the_deals(aws: Stack) -> None:
    seed_crm(aws, deals={"deal-a": ["person-17"]})
    seed_other_tenants_user()
    assert api("GET", "/v1/deals", claims=OTHER) == (200, {"deals": [], "cursor": None})
    assert api("GET", "/v1/deals/deal-a", claims=OTHER)[0] == 404


def test_a_cursor_from_another_tenant_is_refused(aws: Stack) -> None:
    seed_crm(aws, deals={"deal-a": ["person-17"], "deal-b": ["person-17"]})
    seed_other_tenants_user()
    cursor = api("GET", "/v1/deals", query="limit=1", claims=ULLA)[1]["cursor"]
    status, body = api("GET", "/v1/deals", query=f"cursor={cursor}", claims=OTHER)
    assert status == 400, body


def test_a_deal_shows_its_contacts_stage_and_what_each_rule_did(aws: Stack) -> None:
    seed_crm(aws, deals={})
    deal("deal-7", "2026-11-20T09:00:00Z", title="Big deal", personIds=["person-17", "person-99"])
    store = AutomationStore(table(aws))
    store.apply_stage(
        "default",
        "deal-7",
        pipeline_id="p1",
        stage_id="contract",
        changed_at="2026-11-21T10:00:00Z",
        event_id="e1",
    )
    sent = {"send": "send-1", "stage_event": "e1", "at": "2026-11-21T10:00:01Z", "detail": {}}
    assert store.claim("default", "deal-7", "a" * 32, **sent).outcome == "claimed"  # type: ignore[arg-type]
    rule_a, rule_b = "a" * 32, "b" * 32
    store.record_sent(
        "default", "deal-7", rule_a, send="send-1", envelope_id="env-1", at="2026-11-21T10:00:02Z",
        warnings=["tab deal_value: no such tab"],
    )  # fmt: skip
    store.record_skipped(
        "default", "deal-7", "a" * 32, held_by="send-1", send="send-2", at="2026-11-21T10:05:00Z"
    )
    failed = {"send": "send-3", "stage_event": "e1", "at": "2026-11-21T10:00:01Z", "detail": {}}
    assert store.claim("default", "deal-7", "b" * 32, **failed).outcome == "claimed"  # type: ignore[arg-type]
    store.record_failed(
        "default", "deal-7", rule_b, send="send-3", reason="no_contact_email",
        detail="Signer 2 has no address", at="2026-11-21T10:00:03Z",
    )  # fmt: skip
    log = RequestLog()

    status, view = api("GET", "/v1/deals/deal-7", claims=ULLA)

    assert status == 200, view
    assert (view["title"], view["status"]) == ("Big deal", "open")
    assert view["contacts"] == [
        {"personId": "person-17", "name": "person-17", "emails": [CARLA]},
        {"personId": "person-99", "name": None, "emails": []},  # not published by the CRM (yet)
    ]
    assert view["stage"] == {"pipelineId": "p1", "stageId": "contract", "changedAt": "2026-11-21T10:00:00Z"}
    by_rule = {a["ruleId"]: a for a in view["automations"]}
    assert by_rule["a" * 32] | {"claimedAt": None} == {
        "ruleId": "a" * 32,
        "state": "sent",
        "envelopeId": "env-1",
        "reason": None,
        "reasonDetail": None,
        "claimedAt": None,
        "sentAt": "2026-11-21T10:00:02Z",
        "failedAt": None,
        "skippedAt": "2026-11-21T10:05:00Z",
        "warnings": ["tab deal_value: no such tab"],
    }
    assert (by_rule["b" * 32]["state"], by_rule["b" * 32]["reason"], by_rule["b" * 32]["reasonDetail"]) == (
        "failed",
        "no_contact_email",
        "Signer 2 has no address",
    )
    # The caller's user record, the deal's partition, its contacts.
    assert log.take() == {"GetItem": 1, "Query": 1, "BatchGetItem": 1}


def test_a_deal_no_rule_has_touched_has_no_stage_and_no_automations(aws: Stack) -> None:
    seed_crm(aws, deals={"deal-1": ["person-17"]})
    status, view = api("GET", "/v1/deals/deal-1", claims=ULLA)
    assert status == 200, view
    assert (view["stage"], view["automations"]) == (None, [])


def test_an_unknown_or_malformed_deal_id_is_refused(aws: Stack) -> None:
    seed_crm(aws, deals={})
    assert api("GET", "/v1/deals/deal-404", claims=ULLA)[0] == 404
    assert api("GET", "/v1/deals/" + "x" * 300, claims=ULLA)[0] in {400, 422}
    assert api("GET", "/v1/deals", query="limit=0", claims=ULLA)[0] in {400, 422}
