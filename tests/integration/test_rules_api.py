"""The CRM API's automation rules: any active user reads them, a tenant admin changes them, by version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from dealwire.store import automation
from tests.integration.api_support import OTHER, SAM, ULLA, api, seed_other_tenants_user
from tests.mail_support import seed_crm

if TYPE_CHECKING:
    from infra.local.template import Stack

ADMIN = {**ULLA, "dealwire:role": "admin"}
OTHER_ADMIN = {**OTHER, "dealwire:role": "admin"}
ROUTE = "/v1/automation-rules"
NDA: dict[str, Any] = {
    "name": "NDA at contract",
    "pipelineId": "pipeline-1",
    "stageId": "contract",
    "documentType": "nda",
    "templateId": "tpl-nda",
    "contactRoles": ["Signer 1"],
    "fixedRecipients": [{"roleName": "Signer 2", "name": "Ann Admin", "email": "ann@acme-sales.example"}],
    "emailSubject": "Please sign: {{deal.title}}",
    "reminders": {"delayDays": 2, "frequencyDays": 3},
    "expiration": {"afterDays": 30, "warnDays": 5},
}


@pytest.fixture
def crm_users(aws: Stack) -> Stack:
    seed_crm(aws)
    seed_other_tenants_user()
    return aws


def created(claims: dict[str, str] = ADMIN, **changes: Any) -> dict[str, Any]:
    status, rule = api("POST", ROUTE, body={**NDA, **changes}, claims=claims)
    assert status == 200, rule
    return rule


def editable(rule: dict[str, Any]) -> dict[str, Any]:
    """What an editor sends back: the rule as read, without what only dealwire writes."""
    return {k: v for k, v in rule.items() if k not in {"ruleId", "updatedAt", "updatedBy"}}


@pytest.mark.usefixtures("crm_users")
def test_an_admin_creates_a_rule_and_every_active_user_reads_it() -> None:
    rule = created()
    assert len(rule["ruleId"]) == 32
    assert (rule["version"], rule["updatedBy"]) == (1, "user-3")
    assert rule["updatedAt"].endswith("Z")
    # The definition as sent, with the defaults filled.
    assert {k: rule[k] for k in NDA} == NDA
    assert (rule["enabled"], rule["whenActive"], rule["delivery"]) == (True, "skip", {})
    assert api("GET", f"{ROUTE}/{rule['ruleId']}", claims=SAM) == (200, rule)
    assert api("GET", ROUTE, claims=SAM) == (200, {"rules": [rule], "cursor": None})


@pytest.mark.usefixtures("crm_users")
def test_rules_page_by_id() -> None:
    made = sorted(created(name=f"rule {n}")["ruleId"] for n in range(3))
    status, first = api("GET", ROUTE, query="limit=2", claims=ULLA)
    assert status == 200
    assert [r["ruleId"] for r in first["rules"]] == made[:2]
    status, rest = api("GET", ROUTE, query=f"limit=2&cursor={first['cursor']}", claims=ULLA)
    assert ([r["ruleId"] for r in rest["rules"]], rest["cursor"]) == (made[2:], None)


@pytest.mark.usefixtures("crm_users")
def test_an_update_names_the_version_it_read_and_a_stale_one_is_a_conflict() -> None:
    rule = created()
    path = f"{ROUTE}/{rule['ruleId']}"
    status, changed = api("PUT", path, body={**editable(rule), "enabled": False}, claims=ADMIN)
    assert status == 200, changed
    assert (changed["version"], changed["enabled"], changed["ruleId"]) == (2, False, rule["ruleId"])
    assert api("GET", path, claims=ULLA)[1] == changed
    # A second editor still holding version 1.
    status, refused = api("PUT", path, body={**editable(rule), "name": "mine"}, claims=ADMIN)
    assert (status, refused["error"]["code"]) == (409, "version_conflict")
    assert "version 2" in refused["error"]["message"]
    assert api("GET", path, claims=ULLA)[1]["name"] == NDA["name"]


@pytest.mark.usefixtures("crm_users")
def test_a_delete_names_the_version_too() -> None:
    rule = created()
    path = f"{ROUTE}/{rule['ruleId']}"
    api("PUT", path, body=editable(rule), claims=ADMIN)
    status, refused = api("DELETE", path, query="version=1", claims=ADMIN)
    assert (status, refused["error"]["code"]) == (409, "version_conflict")
    assert api("DELETE", path, query="version=2", claims=ADMIN) == (
        200,
        {"ruleId": rule["ruleId"], "version": 2},
    )
    assert api("GET", path, claims=ULLA)[0] == 404
    assert api("DELETE", path, query="version=2", claims=ADMIN)[0] == 404
    assert api("PUT", path, body=editable(rule), claims=ADMIN)[0] == 404  # not recreated
    status, refused = api("DELETE", path, claims=ADMIN)
    assert (status, refused["error"]["code"]) == (400, "invalid_request")
    assert "version" in refused["error"]["message"]


@pytest.mark.usefixtures("crm_users")
@pytest.mark.parametrize(
    ("method", "path", "body", "query"),
    [
        ("POST", ROUTE, NDA, ""),
        ("PUT", f"{ROUTE}/{'a' * 32}", {**NDA, "version": 1}, ""),
        ("DELETE", f"{ROUTE}/{'a' * 32}", None, "version=1"),
    ],
)
def test_only_a_tenant_admin_changes_rules(method: str, path: str, body: Any, query: str) -> None:
    for claims in (ULLA, {**ULLA, "dealwire:role": "sales"}):
        status, refused = api(method, path, body=body, query=query, claims=claims)
        assert (status, refused["error"]["code"]) == (403, "forbidden")
        assert "admin" in refused["error"]["message"]
    ghost = {"dealwire:tenant": "default", "sub": "user-99", "dealwire:role": "admin"}
    assert api(method, path, body=body, query=query, claims=ghost)[0] == 403
    assert api("GET", ROUTE, claims=ULLA) == (200, {"rules": [], "cursor": None})


def test_a_caller_who_is_no_active_user_reads_no_rule(aws: Stack) -> None:
    status, refused = api("GET", ROUTE, claims={"dealwire:tenant": "default", "sub": "nobody"})
    assert (status, refused["error"]["code"]) == (403, "forbidden")


@pytest.mark.usefixtures("crm_users")
def test_another_tenants_rule_is_not_found() -> None:
    theirs = created(OTHER_ADMIN)
    path = f"{ROUTE}/{theirs['ruleId']}"
    assert api("GET", path, claims=ULLA)[0] == 404
    assert api("PUT", path, body=editable(theirs), claims=ADMIN)[0] == 404
    assert api("DELETE", path, query="version=1", claims=ADMIN)[0] == 404
    assert api("GET", ROUTE, claims=ULLA)[1]["rules"] == []
    assert api("GET", path, claims=OTHER)[1] == theirs
    # A cursor of one tenant's list pages nothing of another's.
    for n in range(2):
        created(OTHER_ADMIN, name=f"theirs {n}")
    cursor = api("GET", ROUTE, query="limit=1", claims=OTHER)[1]["cursor"]
    status, refused = api("GET", ROUTE, query=f"cursor={cursor}", claims=ULLA)
    assert (status, refused["error"]["code"]) == (400, "invalid_cursor")


@pytest.mark.usefixtures("crm_users")
@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"emailSubject": "Sign {{deal.nope}}"}, "{{deal.nope}}"),
        ({"emailSubject": "Sign {{deal.nope}}"}, "emailSubject"),
        ({"emailMessage": "Dear {{person.nam}}"}, "{{person.nam}}"),
        ({"contactRoles": ["Signer 1", "Signer 2"]}, "roles named twice: Signer 2"),
        ({"delivery": {"Signer 2": "sms"}}, "fixed roles have none: Signer 2"),
        ({"delivery": {"Signer 9": "email"}}, "Signer 9"),
        ({"contactRoles": [], "fixedRecipients": []}, "fills no role"),
        ({"reminders": {"delayDays": 40, "frequencyDays": 1}}, "before the envelope expires"),
        ({"expiration": {"afterDays": 5, "warnDays": 5}}, "warnDays"),
        ({"pipelineId": "no spaces"}, "pipelineId"),
        ({"templateId": ""}, "templateId"),
        ({"templateId": "tpl\x06"}, "templateId"),
        ({"templateId": "../accounts"}, "templateId"),
        ({"senderUserId": "not-a-guid"}, "senderUserId"),
        ({"whenActive": "always"}, "whenActive"),
        ({"stageID": "contract"}, "stageID"),
        ({"fieldMappings": [{"tabLabel": "x", "source": "deal.secret"}]}, "fieldMappings.0.source"),
    ],
)
def test_an_invalid_rule_is_a_400_naming_the_problem(changes: dict[str, Any], named: str) -> None:
    status, refused = api("POST", ROUTE, body={**NDA, **changes}, claims=ADMIN)
    assert (status, refused["error"]["code"]) == (400, "invalid_request"), refused
    assert named in refused["error"]["message"]
    rule = created()
    status, refused = api(
        "PUT", f"{ROUTE}/{rule['ruleId']}", body={**editable(rule), **changes}, claims=ADMIN
    )
    assert (status, refused["error"]["code"]) == (400, "invalid_request"), refused
    assert named in refused["error"]["message"]


@pytest.mark.usefixtures("crm_users")
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**NDA}, "version"),
        ({**NDA, "version": 0}, "version"),
        ({**NDA, "version": 1, "ruleId": "x"}, "ruleId"),
    ],
)
def test_an_update_needs_its_version_and_only_the_definition(body: dict[str, Any], named: str) -> None:
    rule = created()
    status, refused = api("PUT", f"{ROUTE}/{rule['ruleId']}", body=body, claims=ADMIN)
    assert (status, refused["error"]["code"]) == (400, "invalid_request")
    assert named in refused["error"]["message"]


@pytest.mark.usefixtures("crm_users")
@pytest.mark.parametrize("rule_id", ["not-hex", "A" * 32, "a" * 31, "a" * 33])
def test_a_rule_id_is_32_hex_digits(rule_id: str) -> None:
    for method, body, query in (
        ("GET", None, ""),
        ("PUT", {**NDA, "version": 1}, ""),
        ("DELETE", None, "version=1"),
    ):
        status, refused = api(method, f"{ROUTE}/{rule_id}", body=body, query=query, claims=ADMIN)
        assert (status, refused["error"]["code"]) == (400, "invalid_request")
        assert "rule_id" in refused["error"]["message"]
    assert api("GET", f"{ROUTE}/{'0' * 32}", claims=ULLA)[0] == 404


@pytest.mark.usefixtures("crm_users")
def test_past_the_most_rules_a_tenant_may_have_creating_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(automation, "MAX_RULES", 2)
    created()
    created()
    status, refused = api("POST", ROUTE, body=NDA, claims=ADMIN)
    assert (status, refused["error"]["code"]) == (409, "too_many_rules")
    assert "delete one" in refused["error"]["message"]
    assert len(api("GET", ROUTE, claims=ULLA)[1]["rules"]) == 2
