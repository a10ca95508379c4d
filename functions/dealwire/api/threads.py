"""Reading a thread, and settling its deal, as one CRM user may: the visibility rule applied.

The caller is a user of the tenant the token names; a thread is visible to them when at
least one of its messages is (``domain.linking.visible_to``). A thread they cannot see
is answered exactly as one that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from dealwire.contracts.api import DealChosen, MessageView, PartView, ThreadPage, ThreadView
from dealwire.domain.ids import is_thread_id
from dealwire.domain.linking import visible_to
from dealwire.store.mail import UnknownThread

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dealwire.store.crm import CrmProjection
    from dealwire.store.mail import MailStore, ThreadState

# How far a visibility check reads into a thread before giving up (200 messages a page).
MAX_VISIBILITY_PAGES: Final = 50


class NotAUser(PermissionError):
    """The caller is not an active user of the tenant."""


class Threads:
    def __init__(self, mail: MailStore, crm: CrmProjection) -> None:
        self._mail = mail
        self._crm = crm

    def read(self, tenant_id: str, user_id: str, thread_id: str, cursor: str | None = None) -> ThreadPage:
        """The thread and the page of its messages the caller may see, oldest first."""
        self._require_user(tenant_id, user_id)
        thread = self._thread(tenant_id, thread_id)
        page = self._mail.thread_messages(tenant_id, thread.thread_id, cursor=cursor)
        messages = [_message(item) for item in page.items if _visible(user_id, thread, item)]
        if not messages and cursor is None and not self._can_see(tenant_id, user_id, thread):
            raise UnknownThread(thread_id)  # nothing visible: as good as absent
        return ThreadPage(thread=_thread(thread.item), messages=messages, cursor=page.cursor)

    def choose_deal(self, tenant_id: str, user_id: str, thread_id: str, deal_id: str, at: str) -> DealChosen:
        """Settle which deal a thread belongs to: only a user who can see the thread may."""
        self._require_user(tenant_id, user_id)
        thread = self._thread(tenant_id, thread_id)
        if not self._can_see(tenant_id, user_id, thread):
            raise UnknownThread(thread_id)
        self._mail.choose_deal(tenant_id, thread, deal_id, user_id, at)
        return DealChosen(thread_id=thread.thread_id, deal_id=deal_id, link_state="linked")

    def _require_user(self, tenant_id: str, user_id: str) -> None:
        user = self._crm.user(tenant_id, user_id)
        if user is None or not user.active:
            raise NotAUser(f"{user_id!r} is not an active user of the account")

    def _thread(self, tenant_id: str, thread_id: str) -> ThreadState:
        thread = self._mail.thread(tenant_id, thread_id) if is_thread_id(thread_id) else None
        if thread is None:
            raise UnknownThread(thread_id)
        return thread

    def _can_see(self, tenant_id: str, user_id: str, thread: ThreadState) -> bool:
        cursor: str | None = None
        for _ in range(MAX_VISIBILITY_PAGES):
            page = self._mail.thread_messages(tenant_id, thread.thread_id, limit=200, cursor=cursor)
            if any(_visible(user_id, thread, item) for item in page.items):
                return True
            cursor = page.cursor
            if cursor is None:
                return False
        return False


def _visible(user_id: str, thread: ThreadState, item: Mapping[str, Any]) -> bool:
    return visible_to(
        user_id,
        owner_id=str(item.get("owner_user_id")),
        sharing=str(item.get("sharing")),
        thread_state=thread.link.state,
    )


def _thread(item: Mapping[str, Any]) -> ThreadView:
    return ThreadView(
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


def _message(item: Mapping[str, Any]) -> MessageView:
    return MessageView(
        message_key=str(item.get("message_key", "")),
        message_id=item.get("message_id"),
        kind=item.get("kind", "bcc"),
        from_=item.get("from") or [],
        to=item.get("to") or [],
        cc=item.get("cc") or [],
        subject=item.get("subject"),
        sent_at=item.get("sent_at"),
        owner_user_id=item.get("owner_user_id"),
        sharing=item.get("sharing", "private"),
        snippet=item.get("snippet"),
        parts=[
            PartView(
                role=part.get("role", "attachment"),
                key=part.get("key", ""),
                size=int(part.get("size", 0)),
                sha256=part.get("sha256", ""),
                content_type=part.get("content_type", "application/octet-stream"),
                filename=part.get("filename"),
            )
            for part in item.get("parts") or []
        ],
    )
