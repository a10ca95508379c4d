"""Smart BCC's pure rules: subjects, thread keys, senders, linking, visibility, and their events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealwire.domain import publications
from dealwire.domain.linking import (
    Contacts,
    SenderRules,
    ThreadLink,
    User,
    dropped_by_scan,
    find_user,
    link,
    trusted_sender,
    visible_to,
)
from dealwire.domain.thread_keys import normalized_subject, reference_keys, subject_key
from dealwire.store.table import item_kind


def derive(old: dict[str, Any] | None, new: dict[str, Any] | None) -> publications.Derived:
    """As the publisher calls it: the item's kind from its keys."""
    return publications.derive(item_kind(new or old or {}), old, new)


@pytest.mark.parametrize(
    "subject",
    [
        "Proposal for Q3",
        "Re: Proposal for Q3",
        "RE: Fwd: proposal for q3",
        "AW: WG: Proposal for Q3",
        "SV: VS: Proposal  for Q3",
        "TR: RE[2]: Proposal for Q3",
        "Re(3): Proposal for Q3",
        "[EXTERNAL] RE: Proposal for Q3",
        "RV: Proposal for Q3",
        "Fw: Proposal for Q3",
        "Re\uff1aProposal for Q3",  # the full-width colon of CJK clients
    ],
)
def test_reply_and_forward_prefixes_are_stripped(subject: str) -> None:
    assert normalized_subject(subject) == "proposal for q3"


def test_a_subject_that_only_starts_like_a_prefix_is_kept() -> None:
    assert normalized_subject("Rent: March") == "rent: march"
    assert normalized_subject("Review of the offer") == "review of the offer"


@given(st.text(max_size=300))
def test_normalizing_never_fails_and_is_idempotent(subject: str) -> None:
    once = normalized_subject(subject)
    assert normalized_subject(once) == normalized_subject(once)


def test_the_subject_key_ignores_order_and_case_of_participants_and_refuses_empty_subjects() -> None:
    assert subject_key("t", "Re: Hi", ["B@x", "a@x"]) == subject_key("t", "Hi", ["a@x", "b@x"])
    assert subject_key("t", "Hi", ["a@x"]) != subject_key("other", "Hi", ["a@x"])
    assert subject_key("t", "Re: ", ["a@x"]) is None


def test_references_are_looked_up_nearest_first_and_bounded() -> None:
    keys = reference_keys("t", ["<parent>"], [f"m{i}" for i in range(50)])
    assert len(keys) == 20
    assert keys[0] == reference_keys("t", ["<parent>"], [])[0]


def test_sender_rules_follow_the_account() -> None:
    users = [User("u1", ("ulla.user@gmail.com", "ulla@acme.example"))]
    rules = SenderRules()
    assert find_user(users, "Ulla.User+crm@GMAIL.com", rules) is not None
    assert find_user(users, "ullauser@gmail.com", rules) is not None
    assert find_user(users, "ulla+x@acme.example", rules) is not None
    assert find_user(users, "u.lla@acme.example", rules) is None
    strict = SenderRules(ignore_plus_tags=False, dot_insensitive_domains=frozenset())
    assert find_user(users, "ulla+x@acme.example", strict) is None
    assert find_user([User("u1", ("ulla@acme.example",), active=False)], "ulla@acme.example", rules) is None


def test_verdicts() -> None:
    assert trusted_sender({"dmarc": "FAIL"})[0] is False
    assert trusted_sender({"spf": "FAIL", "dkim": "FAIL"})[0] is False
    assert trusted_sender({"spf": "FAIL", "dkim": "PASS"})[0] is True
    assert trusted_sender({"dmarc": "GRAY", "spf": "PROCESSING_FAILED"})[0] is True
    assert dropped_by_scan({"virus": "FAIL", "spam": "FAIL"}) == "virus"
    assert dropped_by_scan({"spam": "GRAY"}) is None


def test_linking() -> None:
    one = Contacts({"c@x": "p1"}, {"p1": ("d1",)})
    assert link(None, one) == ThreadLink(("p1",), "d1", (), "linked")
    two = Contacts({"c@x": "p1"}, {"p1": ("d2", "d1")})
    assert link(None, two) == ThreadLink(("p1",), None, ("d1", "d2"), "needs_deal_choice")
    assert link(None, Contacts({"c@x": "p1"}, {"p1": ()})).state == "linked"
    assert link(None, Contacts()).state == "unlinked"
    chosen = ThreadLink(("p1",), "d2", (), "linked", chosen=True)
    assert link(chosen, Contacts({"b@x": "p2"}, {"p1": ("d1",), "p2": ("d3",)})) == ThreadLink(
        ("p1", "p2"), "d2", (), "linked", chosen=True
    )


def test_visibility() -> None:
    assert visible_to("u1", owner_id="u1", sharing="private", thread_state="unlinked")
    assert not visible_to("u2", owner_id="u1", sharing="private", thread_state="linked")
    assert visible_to("u2", owner_id="u1", sharing="shared", thread_state="linked")
    assert visible_to("u2", owner_id="u1", sharing="shared", thread_state="needs_deal_choice")
    assert not visible_to("u2", owner_id="u1", sharing="shared", thread_state="unlinked")


def thread(**fields: object) -> dict[str, object]:
    return {"pk": "T#t#THREAD#a", "sk": "THREAD", "tenant_id": "t", "thread_id": "a", "version": 1, **fields}


def test_a_thread_publishes_when_its_link_changes_and_asks_for_a_choice_once() -> None:
    linked = derive(None, thread(link_state="linked", contact_ids=["p1"], deal_id="d1", message_count=1))
    assert [p.detail_type for p in linked.events] == ["mail.thread_linked"]
    again = derive(
        thread(link_state="linked", contact_ids=["p1"], deal_id="d1"),
        thread(link_state="linked", contact_ids=["p1"], deal_id="d1", message_count=2, version=2),
    )
    assert again.events == []
    choice = derive(None, thread(link_state="needs_deal_choice", contact_ids=["p1"], candidates=["d1", "d2"]))
    assert [p.detail_type for p in choice.events] == ["mail.thread_linked", "mail.needs_deal_choice"]
    assert derive(None, thread(link_state="unlinked", contact_ids=[])).events == []


def test_a_rejection_is_published_once() -> None:
    item = {
        "pk": "T#t#REJECTED",
        "sk": "2026#m1",
        "tenant_id": "t",
        "ses_message_id": "m1",
        "reason": "sender_not_allowed",
        "detail": "x",
        "received_at": "2026-11-24T09:00:00Z",
    }
    assert [p.detail_type for p in derive(None, item).events] == ["mail.rejected"]
    assert derive(item, item).events == []
