"""Threads, messages and rejections of Smart BCC mail in the table.

Keys are ``store.table``'s ``THREAD``, ``MESSAGE``, ``MESSAGE_ID``, ``SUBJECT``,
``CONTACT_THREAD`` and ``REJECTION``; a deal's threads are the ``by_deal`` index. Storing
a message is one transaction whose first item, the message id, is conditional on being
absent: a message delivered twice is stored once, with no read to find out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from dealwire.domain.linking import ThreadLink
from dealwire.store import table
from dealwire.store.table import BY_DEAL, Page, TableStore, cancellation_codes, serialize

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef

MAX_CONTACTS: Final = 20
REJECTION_TTL_DAYS: Final = 30


class Duplicate(Exception):
    """The message is stored already."""


class ThreadChanged(Exception):
    """Another message changed the thread between its read and this write; link again."""


class UnknownThread(LookupError):
    """No such thread in this tenant."""


class UnknownDeal(LookupError):
    """The chosen deal is not in the CRM projection, or was deleted."""


@dataclass(frozen=True, slots=True)
class ThreadState:
    thread_id: str
    link: ThreadLink
    version: int
    started_at: str
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one read says of a new message: stored already, and the thread it belongs to."""

    stored: bool
    thread_id: str | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """Everything ``store_message`` writes for one message."""

    tenant_id: str
    thread_id: str
    message_key: str
    sent_at: str
    item: dict[str, Any]  # the message item's attributes (keys are added here)
    subject: str | None
    participants: list[str]
    subject_key: str | None


def thread_link(item: Mapping[str, Any]) -> ThreadLink:
    return ThreadLink(
        contact_ids=tuple(item.get("contact_ids") or ()),
        deal_id=item.get("deal_id"),
        candidates=tuple(item.get("candidates") or ()),
        state=item.get("link_state", "unlinked"),
        chosen=bool(item.get("deal_chosen")),
    )


def thread_state(item: dict[str, Any]) -> ThreadState:
    return ThreadState(
        thread_id=str(item.get("thread_id", "")),
        link=thread_link(item),
        version=int(item.get("version", 0)),
        started_at=str(item.get("started_at", "")),
        item=item,
    )


class MailStore(TableStore):
    def lookup(
        self, tenant_id: str, message_key: str, reference_keys: list[str], subject_key: str | None
    ) -> Lookup:
        """Whether the message is stored, and the thread of its nearest reference or subject: one read."""
        own = table.message_id_key(tenant_id, message_key)
        keys = [own, *(table.message_id_key(tenant_id, key) for key in reference_keys)]
        if subject_key:
            keys.append(table.subject_key(tenant_id, subject_key))
        threads = {
            str(item["pk"]): str(item["thread_id"]) for item in self._batch_get(keys) if item.get("thread_id")
        }
        thread = next((threads[key.pk] for key in keys[1:] if key.pk in threads), None)
        return Lookup(stored=own.pk in threads, thread_id=thread)

    def thread(self, tenant_id: str, thread_id: str) -> ThreadState | None:
        item = self._get(table.thread_key(tenant_id, thread_id), consistent=True)
        return thread_state(item) if item else None

    def store_message(self, message: NewMessage, link: ThreadLink, current: ThreadState | None) -> None:
        """The message, its id, the thread and the contacts' links: one transaction.

        Raises ``Duplicate`` when the message id is stored already and ``ThreadChanged``
        when the thread moved on since ``current`` was read.
        """
        tenant, thread_id = message.tenant_id, message.thread_id
        started = current.started_at if current else message.sent_at
        stored_as = table.message_key(tenant, thread_id, message.sent_at, message.message_key)
        mid = table.message_id_key(tenant, message.message_key)
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": mid.pk,
                            "sk": mid.sk,
                            "tenant_id": tenant,
                            "thread_id": thread_id,
                            "message_sk": stored_as.sk,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {**message.item, "pk": stored_as.pk, "sk": stored_as.sk, "thread_id": thread_id}
                    ),
                }
            },
            {"Update": self._thread_update(message, link, current, started)},
        ]
        if message.subject_key:
            fallback = table.subject_key(tenant, message.subject_key)
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize({"pk": fallback.pk, "sk": fallback.sk, "thread_id": thread_id}),
                    }
                }
            )
        known = set(current.link.contact_ids) if current else set()
        for person in [p for p in link.contact_ids if p not in known][:MAX_CONTACTS]:
            linked = table.contact_thread_key(tenant, person, started, thread_id)
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": linked.pk,
                                "sk": linked.sk,
                                "tenant_id": tenant,
                                "thread_id": thread_id,
                                "subject": message.subject,
                            }
                        ),
                    }
                }
            )
        try:
            self._transact(writes)
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise Duplicate(message.message_key) from None
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                raise ThreadChanged(thread_id) from None
            raise

    def _thread_update(
        self, message: NewMessage, link: ThreadLink, current: ThreadState | None, started: str
    ) -> UpdateTypeDef:
        values: dict[str, Any] = {
            ":tenant": message.tenant_id,
            ":thread": message.thread_id,
            ":subject": message.subject or "",
            ":started": started,
            ":last": message.sent_at,
            ":one": 1,
            ":zero": 0,
            ":people": sorted(
                set(message.participants) | set((current.item.get("participants") or []) if current else [])
            ),
            ":contacts": list(link.contact_ids),
            # The thread's visibility summary: who owns a message of it, how many are shared.
            ":owner": {str(message.item.get("owner_user_id", ""))},
            ":shared": 1 if message.item.get("sharing") == "shared" else 0,
            ":candidates": list(link.candidates),
            ":state": link.state,
            ":chosen": link.chosen,
        }
        sets = [
            "tenant_id = :tenant",
            "thread_id = :thread",
            "subject = if_not_exists(subject, :subject)",
            "started_at = if_not_exists(started_at, :started)",
            "participants = :people",
            "contact_ids = :contacts",
            "candidates = :candidates",
            "link_state = :state",
            "deal_chosen = :chosen",
            "message_count = if_not_exists(message_count, :zero) + :one",
            "version = if_not_exists(version, :zero) + :one",
            "shared_messages = if_not_exists(shared_messages, :zero) + :shared",
        ]
        removes: list[str] = []
        if current is None or message.sent_at > str(current.item.get("last_message_at", "")):
            sets.append("last_message_at = :last")
        if link.deal_id:
            values.update(
                {
                    ":deal": link.deal_id,
                    ":gpk": table.deal_threads(message.tenant_id, link.deal_id),
                    ":gsk": table.deal_thread_sort(started, message.thread_id),
                }
            )
            sets += ["deal_id = :deal", f"{BY_DEAL.pk} = :gpk", f"{BY_DEAL.sk} = :gsk"]
        else:
            removes += ["deal_id", BY_DEAL.pk, BY_DEAL.sk]
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": table.thread_key(message.tenant_id, message.thread_id).item(),
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + " ADD owner_user_ids :owner"
            + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ExpressionAttributeValues": serialize(values),
        }
        if current is None:
            update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            update["ConditionExpression"] = "version = :version"
            update["ExpressionAttributeValues"] = serialize({**values, ":version": current.version})
        return update

    def choose_deal(
        self, tenant_id: str, thread: ThreadState, deal_id: str, user_id: str | None, at: str
    ) -> None:
        """Settle the thread's deal: the deal must be known and not deleted. One transaction."""
        values = serialize(
            {
                ":deal": deal_id,
                ":state": "linked",
                ":yes": True,
                ":none": [],
                ":gpk": table.deal_threads(tenant_id, deal_id),
                ":gsk": table.deal_thread_sort(thread.started_at, thread.thread_id),
                ":by": user_id or "",
                ":at": at,
                ":one": 1,
                ":zero": 0,
            }
        )
        try:
            self._transact(
                [
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": table.deal_key(tenant_id, deal_id).item(),
                            "ConditionExpression": "attribute_exists(pk) AND #s <> :deleted",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":deleted": {"S": "deleted"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": table.thread_key(tenant_id, thread.thread_id).item(),
                            "UpdateExpression": (
                                "SET deal_id = :deal, link_state = :state, deal_chosen = :yes, "
                                f"candidates = :none, {BY_DEAL.pk} = :gpk, {BY_DEAL.sk} = :gsk, "
                                "chosen_by = :by, chosen_at = :at, "
                                "version = if_not_exists(version, :zero) + :one"
                            ),
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise UnknownDeal(deal_id) from None
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise UnknownThread(thread.thread_id) from None
            raise

    def thread_messages(
        self, tenant_id: str, thread_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """The thread's messages, oldest first: one Query, paged (the thread item is ``thread``)."""
        return self._query_page(
            table.thread_key(tenant_id, thread_id).pk,
            sk_prefix=table.message_prefix(),
            limit=limit,
            cursor=cursor,
            newest=False,
            max_limit=200,
        )

    def threads_of_deal(
        self, tenant_id: str, deal_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """A deal's threads, newest first: one Query on ``by_deal``."""
        return self._query_page(
            table.deal_threads(tenant_id, deal_id),
            index=BY_DEAL,
            limit=limit,
            cursor=cursor,
            newest=True,
            max_limit=200,
        )

    def threads(self, tenant_id: str, thread_ids: list[str]) -> dict[str, ThreadState]:
        """Several threads by id: one BatchGetItem."""
        items = self._batch_get([table.thread_key(tenant_id, thread_id) for thread_id in thread_ids])
        return {state.thread_id: state for state in (thread_state(item) for item in items)}

    def threads_of_person(
        self, tenant_id: str, person_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """A contact's thread links, newest first: one Query of the person's partition."""
        return self._query_page(
            table.person_key(tenant_id, person_id).pk,
            sk_prefix=table.contact_thread_prefix(),
            limit=limit,
            cursor=cursor,
            newest=True,
            max_limit=200,
        )

    def record_rejection(
        self, tenant_id: str, fields: dict[str, Any], received_at: str, ses_message_id: str
    ) -> None:
        """Why a delivery was refused: the stream turns it into ``mail.rejected``. Kept 30 days."""
        key = table.rejection_key(tenant_id, received_at, ses_message_id)
        self.client.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    **fields,
                    "pk": key.pk,
                    "sk": key.sk,
                    "tenant_id": tenant_id,
                    "ses_message_id": ses_message_id,
                    "received_at": received_at,
                    table.TTL_ATTRIBUTE: int(time.time()) + REJECTION_TTL_DAYS * 86400,
                }
            ),
        )
