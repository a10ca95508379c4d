"""crm_projection and the threads API under moto: newest CRM version wins; callers see what they may."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore
from dealwire.store.table import encode_cursor, message_prefix, person_key, thread_key
from tests.integration.api_support import OTHER, SAM, ULLA, api, crm, filed, seed_other_tenants_user
from tests.integration.helpers import RequestLog
from tests.mail_support import bcc_mail, ingest, put_raw, ses_event, table

if TYPE_CHECKING:
    from infra.local.template import Stack


def test_the_newest_person_version_wins_whatever_the_order(aws: Stack) -> None:
    del aws
    assert crm("person.upserted", personId="p1", emails=["new@x.example"], updatedAt="2026-11-20T10:00:00Z")[
        "applied"
    ]
    assert not crm(
        "person.upserted", personId="p1", emails=["old@x.example"], updatedAt="2026-11-20T09:00:00Z"
    )["applied"]
    assert crm("person.upserted", personId="p1", emails=["new@x.example"], updatedAt="2026-11-20T10:00:00Z")[
        "applied"
    ]
    store = CrmProjection(table_of())
    assert store.contacts("default", ["new@x.example", "old@x.example"]) == {"new@x.example": "p1"}


def test_an_address_a_person_lost_no_longer_matches(aws: Stack) -> None:
    del aws
    crm(
        "person.upserted",
        personId="p1",
        emails=["a@x.example", "b@x.example"],
        updatedAt="2026-11-20T10:00:00Z",
    )
    crm("person.upserted", personId="p1", emails=["b@x.example"], updatedAt="2026-11-20T11:00:00Z")
    assert CrmProjection(table_of()).contacts("default", ["a@x.example", "b@x.example"]) == {
        "b@x.example": "p1"
    }


def test_an_older_persons_update_leaves_a_newer_owners_address_and_still_lands(aws: Stack) -> None:
    """The review's repro: p1 lists an address that p2, newer, took over, then drops another."""
    del aws
    crm(
        "person.upserted",
        personId="p1",
        name="Old",
        emails=["a@x.example", "b@x.example"],
        updatedAt="2026-11-20T10:00:00Z",
    )
    crm(
        "person.upserted",
        personId="p2",
        emails=["a@x.example", "c@x.example"],
        updatedAt="2026-11-20T12:00:00Z",
    )
    crm("person.upserted", personId="p3", emails=["b@x.example"], updatedAt="2026-11-20T13:00:00Z")
    # p1 (updated at 11:00, older than both) still lists a@ and drops b@: both belong to newer people.
    assert crm(
        "person.upserted",
        personId="p1",
        name="Renamed",
        emails=["a@x.example", "d@x.example"],
        updatedAt="2026-11-20T11:00:00Z",
    )["applied"]
    store = CrmProjection(table_of())
    owners = store.contacts("default", ["a@x.example", "b@x.example", "c@x.example", "d@x.example"])
    assert owners == {"a@x.example": "p2", "b@x.example": "p3", "c@x.example": "p2", "d@x.example": "p1"}
    person = store._get(person_key("default", "p1"))
    assert person is not None
    assert person["name"] == "Renamed"


def test_a_deal_that_closed_or_lost_a_contact_is_no_longer_open_for_it(aws: Stack) -> None:
    del aws
    crm("deal.upserted", dealId="d1", status="open", personIds=["p1", "p2"], updatedAt="2026-11-20T10:00:00Z")
    crm("deal.upserted", dealId="d2", status="open", personIds=["p1"], updatedAt="2026-11-20T10:00:00Z")
    crm("deal.upserted", dealId="d1", status="open", personIds=["p2"], updatedAt="2026-11-20T11:00:00Z")
    crm("deal.upserted", dealId="d2", status="won", personIds=["p1"], updatedAt="2026-11-20T11:00:00Z")
    assert CrmProjection(table_of()).open_deals("default", ["p1", "p2"]) == {"p1": (), "p2": ("d1",)}


def test_a_persons_open_deals_are_one_batched_read(aws: Stack) -> None:
    del aws
    for deal, people in (("d1", ["p1", "p2"]), ("d2", ["p1"]), ("d3", ["p3"])):
        crm("deal.upserted", dealId=deal, status="open", personIds=people, updatedAt="2026-11-20T10:00:00Z")
    store = CrmProjection(table_of())
    log = RequestLog()
    assert store.open_deals("default", ["p1", "p2", "p3", "p4"]) == {
        "p1": ("d1", "d2"),
        "p2": ("d1",),
        "p3": ("d3",),
        "p4": (),
    }
    assert log.take() == {"BatchGetItem": 1}


def test_an_invalid_crm_event_fails_naming_the_field(aws: Stack) -> None:
    del aws
    with pytest.raises(ValidationError, match="status"):
        crm("deal.upserted", dealId="d1", status="maybe", updatedAt="2026-11-20T10:00:00Z")


def table_of() -> str:
    from tests.conftest import TEST_STACK

    return table(TEST_STACK)


def test_a_private_message_is_its_owners_alone(aws: Stack) -> None:
    thread = filed(aws, "private")
    assert api("GET", f"/v1/threads/{thread}", claims=ULLA)[0] == 200
    assert api("GET", f"/v1/threads/{thread}", claims=SAM)[0] == 404


def test_a_shared_message_is_the_teams_once_linked_but_not_while_unlinked(aws: Stack) -> None:
    linked = filed(aws, "shared")
    status, body = api("GET", f"/v1/threads/{linked}", claims=SAM)
    assert status == 200
    assert body["thread"]["dealId"] == "deal-42"
    assert [m["ownerUserId"] for m in body["messages"]] == ["user-3"]
    put_raw(aws, "m2", bcc_mail(to="x <stranger@elsewhere.example>", message_id="<other@x>", subject="Other"))
    unlinked = ingest(ses_event("m2"))["outcomes"][0]["threadId"]
    assert api("GET", f"/v1/threads/{unlinked}", claims=SAM)[0] == 404
    assert api("GET", f"/v1/threads/{unlinked}", claims=ULLA)[0] == 200


def test_a_caller_without_tenant_claims_is_refused(aws: Stack) -> None:
    thread = filed(aws, "shared")
    status, body = api("GET", f"/v1/threads/{thread}", claims={"sub": "user-3"})
    assert (status, body["error"]["code"]) == (403, "forbidden")


def test_another_tenants_caller_sees_nothing(aws: Stack) -> None:
    thread = filed(aws, "shared")
    seed_other_tenants_user()
    assert api("GET", f"/v1/threads/{thread}", claims=OTHER)[0] == 404
    assert api("POST", f"/v1/threads/{thread}/deal", body={"dealId": "deal-42"}, claims=OTHER)[0] == 404


def test_a_caller_who_is_no_active_user_is_refused(aws: Stack) -> None:
    thread = filed(aws, "shared")
    stranger = {"dealwire:tenant": "default", "sub": "user-99"}
    assert api("GET", f"/v1/threads/{thread}", claims=stranger)[0] == 403
    crm(
        "user.upserted",
        userId="user-4",
        email="sam.seller@acme-sales.example",
        active=False,
        updatedAt="2026-11-21T08:00:00Z",
    )
    status, body = api("POST", f"/v1/threads/{thread}/deal", body={"dealId": "deal-42"}, claims=SAM)
    assert (status, body["error"]["code"]) == (403, "forbidden")


def test_a_deal_can_be_chosen_only_by_a_user_who_can_see_the_thread(aws: Stack) -> None:
    """The review's bypass: a colleague linking (then reading) a thread they cannot see."""
    private = filed(aws, "private", deals={"deal-42": ["person-17"], "deal-57": ["person-17"]})
    status, _ = api("POST", f"/v1/threads/{private}/deal", body={"dealId": "deal-57"}, claims=SAM)
    assert status == 404
    assert api("GET", f"/v1/threads/{private}", claims=ULLA)[1]["thread"]["linkState"] == "needs_deal_choice"
    # Shared but unlinked (no contact): not the team's yet, so not the team's to link.
    put_raw(aws, "m2", bcc_mail(to="x <stranger@elsewhere.example>", message_id="<other@x>", subject="Other"))
    unlinked = ingest(ses_event("m2"))["outcomes"][0]["threadId"]
    crm(
        "user.upserted",
        userId="user-3",
        email="ulla.user@acme-sales.example",
        mailSharing="shared",
        updatedAt="2026-11-21T08:00:00Z",
    )
    assert api("POST", f"/v1/threads/{unlinked}/deal", body={"dealId": "deal-42"}, claims=SAM)[0] == 404
    assert api("GET", f"/v1/threads/{unlinked}", claims=SAM)[0] == 404
    # Its owner may.
    assert api("POST", f"/v1/threads/{unlinked}/deal", body={"dealId": "deal-42"}, claims=ULLA)[0] == 200


def test_choosing_a_deal_settles_the_thread(aws: Stack) -> None:
    thread = filed(aws, "shared", deals={"deal-42": ["person-17"], "deal-57": ["person-17"]})
    assert api("GET", f"/v1/threads/{thread}", claims=ULLA)[1]["thread"]["linkState"] == "needs_deal_choice"
    status, body = api("POST", f"/v1/threads/{thread}/deal", body={"dealId": "deal-57"}, claims=ULLA)
    assert (status, body["dealId"]) == (200, "deal-57")
    thread_body = api("GET", f"/v1/threads/{thread}", claims=ULLA)[1]["thread"]
    assert (thread_body["linkState"], thread_body["dealId"]) == ("linked", "deal-57")
    page = MailStore(table(aws)).threads_of_deal("default", "deal-57")
    assert [item["thread_id"] for item in page.items] == [thread]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/v1/threads/{t}/deal", {"dealId": "deal-999"}, 400, "unknown_deal"),
        ("/v1/threads/{t}/deal", {"deal": "x"}, 400, "invalid_request"),
        ("/v1/threads/0123456789abcdef0123456789abcdef/deal", {"dealId": "deal-42"}, 404, "not_found"),
        ("/v1/threads/nonsense/deal", {"dealId": "deal-42"}, 400, "invalid_request"),
    ],
)
def test_bad_deal_choices_are_refused_with_a_reason(
    aws: Stack, path: str, body: Any, status: int, error: str
) -> None:
    thread = filed(aws, "shared")
    answer = api("POST", path.replace("{t}", thread), body=body, claims=ULLA)
    assert (answer[0], answer[1]["error"]["code"]) == (status, error)


def test_a_deal_chosen_event_does_what_the_api_does(aws: Stack) -> None:
    thread = filed(aws, "shared", deals={"deal-42": ["person-17"], "deal-57": ["person-17"]})
    crm(
        "thread.deal_chosen",
        threadId=thread,
        dealId="deal-42",
        userId="user-3",
        updatedAt="2026-11-24T10:00:00Z",
    )
    assert api("GET", f"/v1/threads/{thread}", claims=ULLA)[1]["thread"]["dealId"] == "deal-42"


def test_a_later_page_is_judged_by_the_threads_state_too(aws: Stack) -> None:
    thread = filed(aws, "shared", to="x <stranger@elsewhere.example>")
    # A cursor into the middle of the thread: the thread item is not on that page.
    cursor = encode_cursor({"pk": {"S": thread_key("default", thread).pk}, "sk": {"S": message_prefix()}})
    status, _ = api("GET", f"/v1/threads/{thread}", query=f"cursor={cursor}", claims=SAM)
    assert status == 404  # as the first page is: the thread is not Sam's to see
    status, body = api("GET", f"/v1/threads/{thread}", query=f"cursor={cursor}", claims=ULLA)
    assert [m["ownerUserId"] for m in body["messages"]] == ["user-3"]
