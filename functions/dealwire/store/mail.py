"""Threads, messages and rejections of Smart BCC mail in the DynamoDB table.

=================  ==========================================  ================================
item               pk / sk                                     what for
=================  ==========================================  ================================
thread             ``T#<t>#THREAD#<id>`` / ``THREAD``          link state; ``by_deal`` index
message            ``T#<t>#THREAD#<id>`` / ``MSG#<sent>#<k>``  headers, parts, owner, sharing
message id         ``T#<t>#MID#<key>`` / ``MID``               dedup and References lookup
subject fallback   ``T#<t>#SUBJ#<key>`` / ``SUBJ``             threads for clients without References
contact's thread   ``T#<t>#PERSON#<p>`` / ``THREAD#<start>#<id>``  a contact's threads, newest first
rejection          ``T#<t>#REJECTED`` / ``<received>#<ses id>``   why a delivery was refused (TTL)
=================  ==========================================  ================================

``by_deal`` for threads: ``T#<t>#DEAL#<deal>#THREADS`` / ``<started>#<thread>``. Storing a
message is one transaction whose first item, the message id, is conditional on being
absent: a message delivered twice is stored once, with no read to find out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dealwire.domain.linking import ThreadLink, User
from dealwire.store import clients
from dealwire.store.crm import deal_pk, email_pk, item_key, person_pk, users_pk
from dealwire.store.envelopes import Page, deserialize, query_page, serialize

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef

BATCH_GET_LIMIT = 100
MAX_CONTACTS = 20
REJECTION_TTL_DAYS = 30


def thread_pk(tenant_id: str, thread_id: str) -> str:
    return f"T#{tenant_id}#THREAD#{thread_id}"


def mid_pk(tenant_id: str, key: str) -> str:
    return f"T#{tenant_id}#MID#{key}"


def subject_pk(tenant_id: str, key: str) -> str:
    return f"T#{tenant_id}#SUBJ#{key}"


def deal_threads_pk(tenant_id: str, deal_id: str) -> str:
    return f"T#{tenant_id}#DEAL#{deal_id}#THREADS"


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


class MailStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or clients.dynamodb()

    # -- the CRM projection as mail needs it -------------------------------------------------

    def users(self, tenant_id: str) -> list[User]:
        """Every user of the account: one Query (paged past 1 MB)."""
        found: list[User] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": users_pk(tenant_id)}},
        }
        while True:
            answer = self.client.query(**kwargs)
            for raw in answer.get("Items", []):
                item = deserialize(raw)
                found.append(
                    User(
                        user_id=str(item["user_id"]),
                        emails=tuple(item.get("emails") or ()),
                        sharing="shared" if item.get("sharing") == "shared" else "private",
                        active=bool(item.get("active", True)),
                        name=str(item.get("name", "")),
                    )
                )
            if "LastEvaluatedKey" not in answer:
                return found
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def contacts(self, tenant_id: str, addresses: Iterable[str]) -> dict[str, str]:
        """Address -> person id for the addresses that are contacts: one BatchGetItem."""
        wanted = list(dict.fromkeys(address.lower() for address in addresses))[:BATCH_GET_LIMIT]
        items = self._batch_get([item_key(email_pk(tenant_id, address), "CONTACT") for address in wanted])
        return {str(item["email"]): str(item["person_id"]) for item in items if item.get("person_id")}

    def open_deals(self, tenant_id: str, person_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each person's open deals: one Query per person, bounded."""
        found: dict[str, tuple[str, ...]] = {}
        for person in list(dict.fromkeys(person_ids))[:MAX_CONTACTS]:
            answer = self.client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :deal)",
                FilterExpression="#s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pk": {"S": person_pk(tenant_id, person)},
                    ":deal": {"S": "DEAL#"},
                    ":open": {"S": "open"},
                },
            )
            found[person] = tuple(str(deserialize(item)["deal_id"]) for item in answer.get("Items", []))
        return found

    # -- threads ------------------------------------------------------------------------------

    def find_thread(self, tenant_id: str, reference_keys: list[str], subject_key: str | None) -> str | None:
        """The thread of the nearest referenced message, else of the subject fallback: one read."""
        keys = [item_key(mid_pk(tenant_id, key), "MID") for key in reference_keys]
        if subject_key:
            keys.append(item_key(subject_pk(tenant_id, subject_key), "SUBJ"))
        if not keys:
            return None
        by_pk = {
            str(item["pk"]): str(item["thread_id"]) for item in self._batch_get(keys) if item.get("thread_id")
        }
        for key in keys:
            thread = by_pk.get(key["pk"]["S"])
            if thread:
                return thread
        return None

    def thread(self, tenant_id: str, thread_id: str) -> ThreadState | None:
        answer = self.client.get_item(
            TableName=self._table,
            Key=item_key(thread_pk(tenant_id, thread_id), "THREAD"),
            ConsistentRead=True,
        )
        if "Item" not in answer:
            return None
        item = deserialize(answer["Item"])
        return ThreadState(
            thread_id=thread_id,
            link=thread_link(item),
            version=int(item.get("version", 0)),
            started_at=str(item.get("started_at", "")),
            item=item,
        )

    def store_message(self, message: NewMessage, link: ThreadLink, current: ThreadState | None) -> None:
        """The message, its id, the thread and the contacts' links: one transaction.

        Raises ``Duplicate`` when the message id is stored already and ``ThreadChanged``
        when the thread moved on since ``current`` was read.
        """
        tenant, thread_id = message.tenant_id, message.thread_id
        started = current.started_at if current else message.sent_at
        message_sk = f"MSG#{message.sent_at}#{message.message_key}"
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": mid_pk(tenant, message.message_key),
                            "sk": "MID",
                            "tenant_id": tenant,
                            "thread_id": thread_id,
                            "message_sk": message_sk,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            **message.item,
                            "pk": thread_pk(tenant, thread_id),
                            "sk": message_sk,
                            "thread_id": thread_id,
                        }
                    ),
                }
            },
            {"Update": self._thread_update(message, link, current, started)},
        ]
        if message.subject_key:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": subject_pk(tenant, message.subject_key),
                                "sk": "SUBJ",
                                "thread_id": thread_id,
                            }
                        ),
                    }
                }
            )
        known = set(current.link.contact_ids) if current else set()
        for person in [p for p in link.contact_ids if p not in known][:MAX_CONTACTS]:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": person_pk(tenant, person),
                                "sk": f"THREAD#{started}#{thread_id}",
                                "tenant_id": tenant,
                                "thread_id": thread_id,
                                "subject": message.subject,
                            }
                        ),
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            codes = [str(reason.get("Code", "")) for reason in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise Duplicate(message.message_key) from None
            if "ConditionalCheckFailed" in codes:
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
        ]
        removes: list[str] = []
        if current is None or message.sent_at > str(current.item.get("last_message_at", "")):
            sets.append("last_message_at = :last")
        if link.deal_id:
            values.update(
                {
                    ":deal": link.deal_id,
                    ":gpk": deal_threads_pk(message.tenant_id, link.deal_id),
                    ":gsk": f"{started}#{message.thread_id}",
                }
            )
            sets += ["deal_id = :deal", "gsi_deal_pk = :gpk", "gsi_deal_sk = :gsk"]
        else:
            removes += ["deal_id", "gsi_deal_pk", "gsi_deal_sk"]
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": item_key(thread_pk(message.tenant_id, message.thread_id), "THREAD"),
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ExpressionAttributeValues": serialize(values),
        }
        if current is None:
            update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            update["ConditionExpression"] = "version = :version"
            update["ExpressionAttributeValues"] = serialize({**values, ":version": current.version})
        return update

    def choose_deal(self, tenant_id: str, thread_id: str, deal_id: str, user_id: str | None, at: str) -> None:
        """Settle the thread's deal: the deal must be known and not deleted. One transaction."""
        current = self.thread(tenant_id, thread_id)
        if current is None:
            raise UnknownThread(thread_id)
        values = serialize(
            {
                ":deal": deal_id,
                ":state": "linked",
                ":yes": True,
                ":none": [],
                ":gpk": deal_threads_pk(tenant_id, deal_id),
                ":gsk": f"{current.started_at}#{thread_id}",
                ":by": user_id or "",
                ":at": at,
                ":one": 1,
                ":zero": 0,
            }
        )
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": item_key(deal_pk(tenant_id, deal_id), "DEAL"),
                            "ConditionExpression": "attribute_exists(pk) AND #s <> :deleted",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":deleted": {"S": "deleted"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": item_key(thread_pk(tenant_id, thread_id), "THREAD"),
                            "UpdateExpression": (
                                "SET deal_id = :deal, link_state = :state, deal_chosen = :yes, "
                                "candidates = :none, gsi_deal_pk = :gpk, gsi_deal_sk = :gsk, "
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
            codes = [str(r.get("Code", "")) for r in exc.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise UnknownDeal(deal_id) from None
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise UnknownThread(thread_id) from None
            raise

    def thread_messages(
        self, tenant_id: str, thread_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """The thread's messages, oldest first: one Query, paged (the thread item is ``thread``)."""
        return query_page(
            self.client,
            self._table,
            "pk",
            thread_pk(tenant_id, thread_id),
            sk_prefix="MSG#",
            limit=limit,
            cursor=cursor,
            newest=False,
            max_limit=200,
        )

    def threads_of_deal(
        self, tenant_id: str, deal_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """A deal's threads, newest first: one Query on ``by_deal``."""
        return query_page(
            self.client,
            self._table,
            "gsi_deal_pk",
            deal_threads_pk(tenant_id, deal_id),
            index="by_deal",
            limit=limit,
            cursor=cursor,
            newest=True,
            max_limit=200,
        )

    # -- rejections ---------------------------------------------------------------------------

    def record_rejection(
        self, tenant_id: str, fields: dict[str, Any], received_at: str, ses_message_id: str
    ) -> None:
        """Why a delivery was refused: the stream turns it into ``mail.rejected``. Kept 30 days."""
        self.client.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    **fields,
                    "pk": f"T#{tenant_id}#REJECTED",
                    "sk": f"{received_at}#{ses_message_id}",
                    "tenant_id": tenant_id,
                    "ses_message_id": ses_message_id,
                    "received_at": received_at,
                    "expires_at": int(time.time()) + REJECTION_TTL_DAYS * 86400,
                }
            ),
        )

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            pending: dict[str, Any] = {self._table: {"Keys": unique[start : start + BATCH_GET_LIMIT]}}
            for attempt in range(5):
                answer = self.client.batch_get_item(RequestItems=pending)
                found.extend(deserialize(item) for item in answer.get("Responses", {}).get(self._table, []))
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError("DynamoDB left keys unprocessed after 5 attempts; the message is retried")
        return found
