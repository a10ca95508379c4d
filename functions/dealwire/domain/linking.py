"""Smart BCC's rules: who may file mail, what a thread links to, and who may see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

LinkState = Literal["linked", "needs_deal_choice", "unlinked"]
MAX_CANDIDATES = 20


@dataclass(frozen=True, slots=True)
class SenderRules:
    """How an account compares addresses: ``a.b+tag@gmail.com`` may be ``ab@gmail.com``."""

    ignore_plus_tags: bool = True
    dot_insensitive_domains: frozenset[str] = frozenset({"gmail.com", "googlemail.com"})

    def normalize(self, address: str) -> str:
        local, _, domain = address.strip().lower().rpartition("@")
        if self.ignore_plus_tags and "+" in local:
            local = local.split("+", 1)[0]
        if domain in self.dot_insensitive_domains:
            local = local.replace(".", "")
        return f"{local}@{domain}"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    emails: tuple[str, ...]
    sharing: Literal["private", "shared"] = "private"
    active: bool = True
    name: str = ""


def find_user(users: Iterable[User], address: str, rules: SenderRules) -> User | None:
    """The active user one of whose addresses is ``address`` under the account's rules."""
    wanted = rules.normalize(address)
    for user in users:
        if user.active and any(rules.normalize(email) == wanted for email in user.emails):
            return user
    return None


def trusted_sender(verdicts: Mapping[str, str]) -> tuple[bool, str]:
    """Whether SES's checks let the From be taken as the user's; the reason when not."""
    if verdicts.get("dmarc") == "FAIL":
        return False, "dmarc failed for the From domain"
    if verdicts.get("spf") == "FAIL" and verdicts.get("dkim") == "FAIL":
        return False, "both spf and dkim failed"
    return True, ""


def dropped_by_scan(verdicts: Mapping[str, str]) -> str | None:
    """``spam`` or ``virus`` when SES's scan failed the message, else None."""
    if verdicts.get("virus") == "FAIL":
        return "virus"
    if verdicts.get("spam") == "FAIL":
        return "spam"
    return None


@dataclass(frozen=True, slots=True)
class ThreadLink:
    contact_ids: tuple[str, ...] = ()
    deal_id: str | None = None
    candidates: tuple[str, ...] = ()
    state: LinkState = "unlinked"
    chosen: bool = False  # a user settled the deal: later mail never changes it


@dataclass(frozen=True, slots=True)
class Contacts:
    """Matched contacts of one message, and each one's open deals."""

    by_email: dict[str, str] = field(default_factory=dict)  # address -> person id
    open_deals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # person id -> deal ids


def link(current: ThreadLink | None, contacts: Contacts) -> ThreadLink:
    """The thread's link once this message is in it.

    A deal is linked when the thread's contacts have exactly one open deal between them;
    with several the thread waits for a choice; a chosen deal stays.
    """
    current = current or ThreadLink()
    people = tuple(dict.fromkeys([*current.contact_ids, *contacts.by_email.values()]))
    if current.chosen:
        return ThreadLink(people, current.deal_id, (), "linked", chosen=True)
    deals = tuple(
        dict.fromkeys(deal for person in people for deal in sorted(contacts.open_deals.get(person, ())))
    )
    if current.deal_id and (current.deal_id in deals or not deals):
        return ThreadLink(people, current.deal_id, (), "linked")
    if len(deals) == 1:
        return ThreadLink(people, deals[0], (), "linked")
    if len(deals) > 1:
        return ThreadLink(people, None, deals[:MAX_CANDIDATES], "needs_deal_choice")
    return ThreadLink(people, None, (), "linked" if people else "unlinked")


def visible_to(viewer_id: str, *, owner_id: str, sharing: str, thread_state: LinkState) -> bool:
    """A private message is its owner's alone; a shared one is the team's once it is linked."""
    if viewer_id == owner_id:
        return True
    return sharing == "shared" and thread_state != "unlinked"


def thread_visible_to(
    viewer_id: str, *, owner_ids: Iterable[str], shared_messages: int, thread_state: LinkState
) -> bool:
    """The thread is visible when one of its messages is: the viewer owns one, or one is
    shared and the thread is linked. Read from the thread's own summary, no message read."""
    if viewer_id in set(owner_ids):
        return True
    return shared_messages > 0 and thread_state != "unlinked"
