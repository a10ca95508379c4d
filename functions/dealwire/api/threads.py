"""Threads as one CRM user may have them: read, listed for a deal or a contact, their deal chosen.

The caller is an active user of the tenant the token names. A thread is visible to them
when one of its messages is (``domain.linking``): the thread item keeps the summary that
decides it (who owns a message, how many are shared), so a list is filtered without
reading messages. A thread they cannot see is answered exactly as one that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from dealwire.api.errors import InvalidRequest, NotFound
from dealwire.api.part_links import PartLink
from dealwire.api.resolver import require_active_user
from dealwire.contracts.api import (
    DealChosen,
    MessageView,
    Participant,
    PartView,
    ThreadList,
    ThreadPage,
    ThreadSummary,
)
from dealwire.domain.ids import is_crm_id, is_thread_id
from dealwire.domain.linking import thread_visible_to, visible_to
from dealwire.store.mail import UnknownDeal, UnknownThread, thread_state

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dealwire.api.part_links import PartLinks
    from dealwire.store.archive import Archive
    from dealwire.store.crm import CrmProjection
    from dealwire.store.mail import MailStore, ThreadState

# How far a visibility check reads into a thread that has no summary yet (200 messages a page).
MAX_VISIBILITY_PAGES: Final = 50


class Threads:
    def __init__(
        self, mail: MailStore, crm: CrmProjection, parts: Archive, links: PartLinks, link_seconds: int
    ) -> None:
        self._mail = mail
        self._crm = crm
        self._parts = parts
        self._links = links
        self._link_seconds = link_seconds

    def read(
        self,
        tenant_id: str,
        user_id: str,
        thread_id: str,
        *,
        api_base: str,
        now: float,
        cursor: str | None = None,
    ) -> ThreadPage:
        """The thread and the page of its messages the caller may see, oldest first.

        Each part has a link valid for ``link_seconds``: a presigned S3 URL for a part stored
        on its own, a signed link to this API (``api_base``) for one packed with others.
        """
        self.require_user(tenant_id, user_id)
        thread = self._thread(tenant_id, thread_id)
        if not self._can_see(tenant_id, user_id, thread):
            raise NotFound("no such thread")
        page = self._mail.thread_messages(tenant_id, thread.thread_id, cursor=cursor)
        expires = int(now) + self._link_seconds
        messages = [
            self._message(item, api_base, expires)
            for item in page.items
            if _message_visible(user_id, thread, item)
        ]
        return ThreadPage(thread=summary(thread.item), messages=messages, cursor=page.cursor)

    def of_deal(
        self, tenant_id: str, user_id: str, deal_id: str, *, limit: int, cursor: str | None
    ) -> ThreadList:
        """A deal's threads the caller may see, newest first: one Query on ``by_deal``."""
        self.require_user(tenant_id, user_id)
        if not is_crm_id(deal_id):
            raise NotFound("no such deal")
        page = self._mail.threads_of_deal(tenant_id, deal_id, limit=limit, cursor=cursor)
        states = [thread_state(item) for item in page.items]
        return ThreadList(
            threads=[summary(state.item) for state in states if self._can_see(tenant_id, user_id, state)],
            cursor=page.cursor,
        )

    def of_person(
        self, tenant_id: str, user_id: str, person_id: str, *, limit: int, cursor: str | None
    ) -> ThreadList:
        """A contact's threads the caller may see, newest first: one Query, one BatchGetItem."""
        self.require_user(tenant_id, user_id)
        if not is_crm_id(person_id):
            raise NotFound("no such person")
        page = self._mail.threads_of_person(tenant_id, person_id, limit=limit, cursor=cursor)
        ids = [str(item["thread_id"]) for item in page.items if item.get("thread_id")]
        found = self._mail.threads(tenant_id, ids)
        visible = [found[i] for i in ids if i in found and self._can_see(tenant_id, user_id, found[i])]
        return ThreadList(threads=[summary(state.item) for state in visible], cursor=page.cursor)

    def choose_deal(self, tenant_id: str, user_id: str, thread_id: str, deal_id: str, at: str) -> DealChosen:
        """Settle which deal a thread belongs to: only a user who can see the thread may."""
        self.require_user(tenant_id, user_id)
        thread = self._thread(tenant_id, thread_id)
        if not self._can_see(tenant_id, user_id, thread):
            raise NotFound("no such thread")
        try:
            self._mail.choose_deal(tenant_id, thread, deal_id, user_id, at)
        except UnknownThread:
            raise NotFound("no such thread") from None
        except UnknownDeal:
            raise InvalidRequest(
                f"dealId: deal {deal_id!r} is not known or was deleted", code="unknown_deal"
            ) from None
        return DealChosen(thread_id=thread.thread_id, deal_id=deal_id, link_state="linked")

    def require_user(self, tenant_id: str, user_id: str) -> None:
        require_active_user(self._crm, tenant_id, user_id)

    def _thread(self, tenant_id: str, thread_id: str) -> ThreadState:
        thread = self._mail.thread(tenant_id, thread_id) if is_thread_id(thread_id) else None
        if thread is None:
            raise NotFound("no such thread")
        return thread

    def _can_see(self, tenant_id: str, user_id: str, thread: ThreadState) -> bool:
        if "owner_user_ids" in thread.item:
            return thread_visible_to(
                user_id,
                owner_ids=thread.item["owner_user_ids"],
                shared_messages=int(thread.item.get("shared_messages", 0)),
                thread_state=thread.link.state,
            )
        # A thread stored before it kept its summary: read its messages until one is visible.
        cursor: str | None = None
        for _ in range(MAX_VISIBILITY_PAGES):
            page = self._mail.thread_messages(tenant_id, thread.thread_id, limit=200, cursor=cursor)
            if any(_message_visible(user_id, thread, item) for item in page.items):
                return True
            cursor = page.cursor
            if cursor is None:
                return False
        return False

    def _part_url(self, part: Mapping[str, Any], api_base: str, expires: int) -> str:
        if not part.get("packed"):
            return self._parts.presigned_get(str(part["key"]), self._link_seconds, part.get("filename"))
        link = PartLink(
            key=str(part["key"]),
            offset=int(part.get("offset", 0)),
            size=int(part.get("size", 0)),
            content_type=str(part.get("content_type") or "application/octet-stream"),
            filename=part.get("filename"),
            expires=expires,
        )
        return self._links.url(api_base, link)

    def _message(self, item: Mapping[str, Any], api_base: str, expires: int) -> MessageView:
        return MessageView(
            message_key=str(item.get("message_key", "")),
            message_id=item.get("message_id"),
            kind=item.get("kind", "bcc"),
            from_=[Participant(**address) for address in item.get("from") or []],
            to=[Participant(**address) for address in item.get("to") or []],
            cc=[Participant(**address) for address in item.get("cc") or []],
            subject=item.get("subject"),
            sent_at=item.get("sent_at"),
            owner_user_id=item.get("owner_user_id"),
            sharing=item.get("sharing", "private"),
            snippet=item.get("snippet"),
            parts=[
                PartView(
                    role=part.get("role", "attachment"),
                    size=int(part.get("size", 0)),
                    sha256=part.get("sha256", ""),
                    content_type=part.get("content_type", "application/octet-stream"),
                    filename=part.get("filename"),
                    url=self._part_url(part, api_base, expires),
                )
                for part in item.get("parts") or []
                if part.get("key")
            ],
        )


def _message_visible(user_id: str, thread: ThreadState, item: Mapping[str, Any]) -> bool:
    return visible_to(
        user_id,
        owner_id=str(item.get("owner_user_id")),
        sharing=str(item.get("sharing")),
        thread_state=thread.link.state,
    )


def summary(item: Mapping[str, Any]) -> ThreadSummary:
    return ThreadSummary(
        thread_id=str(item.get("thread_id", "")),
        subject=item.get("subject"),
        link_state=item.get("link_state", "unlinked"),
        contact_ids=list(item.get("contact_ids") or []),
        deal_id=item.get("deal_id"),
        candidate_deal_ids=list(item.get("candidates") or []),
        message_count=int(item.get("message_count", 0)),
        started_at=item.get("started_at"),
        last_message_at=item.get("last_message_at"),
    )
