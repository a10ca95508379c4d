"""The CRM projection: users, contacts by address, persons and deals, kept from CRM events.

One store for the projection's reads (what mail and the API ask of it) and its writes
(what CRM events change). Keys are ``store.table``'s ``USER``, ``CONTACT``, ``PERSON``,
``PERSON_DEALS`` and ``DEAL``.

Every write is conditional on the CRM's ``updatedAt``, so the newest version wins
whatever order events arrive in; a redelivery of the newest one applies again harmlessly.
An address belongs to the newest person that lists it: an older person's update leaves
it alone and still lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from dealwire.domain.linking import User
from dealwire.store import table
from dealwire.store.table import (
    BY_DEAL,
    Page,
    TableStore,
    WriteConflict,
    cancellation_codes,
    error_code,
    serialize,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from dealwire.contracts.crm import DealUpserted, PersonUpserted, UserUpserted

MAX_ATTEMPTS: Final = 4
MAX_CONTACTS: Final = 20


@dataclass(slots=True)
class _Writes:
    """A transaction's items; ``optional`` ones may be left out when their condition fails."""

    items: list[TransactWriteItemTypeDef] = field(default_factory=list)
    optional: set[int] = field(default_factory=set)

    def add(self, item: TransactWriteItemTypeDef, *, optional: bool = False) -> None:
        if optional:
            self.optional.add(len(self.items))
        self.items.append(item)


def _user(item: dict[str, Any]) -> User:
    return User(
        user_id=str(item["user_id"]),
        emails=tuple(item.get("emails") or ()),
        sharing="shared" if item.get("sharing") == "shared" else "private",
        active=bool(item.get("active", True)),
        name=str(item.get("name", "")),
    )


class CrmProjection(TableStore):
    # -- reads ------------------------------------------------------------------------------

    def users(self, tenant_id: str) -> list[User]:
        """Every user of the account: one Query (paged past 1 MB)."""
        return [_user(item) for item in self._query_all(table.users_partition(tenant_id))]

    def user(self, tenant_id: str, user_id: str) -> User | None:
        item = self._get(table.user_key(tenant_id, user_id))
        return _user(item) if item else None

    def contacts(self, tenant_id: str, addresses: Iterable[str]) -> dict[str, str]:
        """Address -> person id for the addresses that are contacts: one BatchGetItem."""
        wanted = list(dict.fromkeys(address.lower() for address in addresses))[: table.BATCH_GET_LIMIT]
        items = self._batch_get([table.contact_key(tenant_id, address) for address in wanted])
        return {str(item["email"]): str(item["person_id"]) for item in items if item.get("person_id")}

    def open_deals(self, tenant_id: str, person_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each person's open deals: one BatchGetItem for all of them."""
        people = list(dict.fromkeys(person_ids))[:MAX_CONTACTS]
        items = self._batch_get([table.person_deals_key(tenant_id, person) for person in people])
        found = {str(item.get("person_id")): tuple(sorted(item.get("open_deal_ids") or ())) for item in items}
        return {person: found.get(person, ()) for person in people}

    def deals(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page:
        """The tenant's deals, last updated first: one Query on ``by_deal``."""
        return self._query_page(
            table.deal_list(tenant_id), index=BY_DEAL, limit=limit, cursor=cursor, newest=True
        )

    def deal_partition(self, tenant_id: str, deal_id: str) -> list[dict[str, Any]]:
        """The deal, its last stage change and its rules' signing processes: one Query."""
        return self._query_all(table.deal_partition(tenant_id, deal_id))

    def persons(self, tenant_id: str, person_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The persons that exist of ``person_ids``: one BatchGetItem."""
        people = list(dict.fromkeys(person_ids))[:MAX_CONTACTS]
        return self._batch_get([table.person_key(tenant_id, person) for person in people])

    # -- writes -----------------------------------------------------------------------------

    def upsert_user(self, event: UserUpserted) -> bool:
        """One conditional put; False when the event is older than what is stored."""
        key = table.user_key(event.tenant_id, event.user_id)
        item = serialize(
            {
                "pk": key.pk,
                "sk": key.sk,
                "tenant_id": event.tenant_id,
                "user_id": event.user_id,
                "name": event.name,
                "emails": list(dict.fromkeys([event.email, *event.other_emails])),
                "sharing": event.mail_sharing,
                "active": event.active,
                "updated_at": event.updated_at,
            }
        )
        try:
            self.client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR updated_at <= :u",
                ExpressionAttributeValues={":u": {"S": event.updated_at}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def upsert_person(self, event: PersonUpserted) -> bool:
        """The person and one item per address, in one transaction; addresses it lost are removed."""
        return self._versioned(
            table.person_key(event.tenant_id, event.person_id),
            event.updated_at,
            lambda old: self._person_writes(event, old),
        )

    def upsert_deal(self, event: DealUpserted) -> bool:
        """The deal and its place in each contact's open deals, in one transaction."""
        return self._versioned(
            table.deal_key(event.tenant_id, event.deal_id),
            event.updated_at,
            lambda old: self._deal_writes(event, old),
        )

    def _versioned(
        self, head: table.Key, updated_at: str, build: Callable[[dict[str, Any] | None], _Writes]
    ) -> bool:
        """Read the entity's stored version, write the new one on condition it is unchanged.

        The first item of the transaction is the entity itself: its condition failing
        means another version landed meanwhile (read again). An optional item's condition
        failing means a newer entity owns it (an address): it is left out, and the rest
        lands.
        """
        for _ in range(MAX_ATTEMPTS):
            old = self._get(head, consistent=True)
            if old and str(old.get("updated_at", "")) > updated_at:
                return False
            writes = build(old)
            put = writes.items[0]["Put"]
            if old is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "updated_at = :old"
                put["ExpressionAttributeValues"] = {":old": {"S": str(old.get("updated_at", ""))}}
            if self._commit(writes):
                return True
        raise WriteConflict(f"{head.pk} kept changing while it was written; the event is retried")

    def _commit(self, writes: _Writes) -> bool:
        """True once committed; False when the head's version moved (the caller reads again)."""
        kept = list(range(len(writes.items)))
        for _ in range(MAX_ATTEMPTS):
            try:
                self._transact([writes.items[i] for i in kept])
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(exc)
                failed = {kept[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
                if 0 in failed:
                    return False
                if failed and failed <= writes.optional:
                    kept = [i for i in kept if i not in failed]
                    continue
                if not failed and "TransactionConflict" in codes:
                    continue
                raise
            return True
        raise WriteConflict("the projection's items kept changing while they were written")

    def _person_writes(self, event: PersonUpserted, old: dict[str, Any] | None) -> _Writes:
        tenant = event.tenant_id
        emails = [] if event.deleted else list(dict.fromkeys(event.emails))
        head = table.person_key(tenant, event.person_id)
        writes = _Writes()
        writes.add(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": head.pk,
                            "sk": head.sk,
                            "tenant_id": tenant,
                            "person_id": event.person_id,
                            "name": event.name,
                            "emails": emails,
                            "deleted": event.deleted,
                            "updated_at": event.updated_at,
                        }
                    ),
                }
            }
        )
        for address in emails:
            key = table.contact_key(tenant, address)
            writes.add(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": key.pk,
                                "sk": key.sk,
                                "tenant_id": tenant,
                                "email": address,
                                "person_id": event.person_id,
                                "name": event.name,
                                "updated_at": event.updated_at,
                            }
                        ),
                        # The newest person listing an address owns it.
                        "ConditionExpression": (
                            "attribute_not_exists(pk) OR person_id = :p OR updated_at <= :u"
                        ),
                        "ExpressionAttributeValues": {
                            ":p": {"S": event.person_id},
                            ":u": {"S": event.updated_at},
                        },
                    }
                },
                optional=True,
            )
        for address in sorted(set((old or {}).get("emails") or []) - set(emails)):
            writes.add(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": table.contact_key(tenant, address).item(),
                        # Another person may own it by now: then it stays theirs.
                        "ConditionExpression": "attribute_not_exists(pk) OR person_id = :p",
                        "ExpressionAttributeValues": {":p": {"S": event.person_id}},
                    }
                },
                optional=True,
            )
        return writes

    def _deal_writes(self, event: DealUpserted, old: dict[str, Any] | None) -> _Writes:
        tenant = event.tenant_id
        people = [] if event.status == "deleted" else list(dict.fromkeys(event.person_ids))
        head = table.deal_key(tenant, event.deal_id)
        item: dict[str, Any] = {
            "pk": head.pk,
            "sk": head.sk,
            "tenant_id": tenant,
            "deal_id": event.deal_id,
            "title": event.title,
            "status": event.status,
            "person_ids": people,
            "owner_user_id": event.owner_user_id,
            "updated_at": event.updated_at,
        }
        if event.status != "deleted":
            # The tenant's list of deals: a deleted deal leaves it (the index is sparse).
            item[BY_DEAL.pk] = table.deal_list(tenant)
            item[BY_DEAL.sk] = table.deal_list_sort(event.updated_at, event.deal_id)
        writes = _Writes()
        writes.add({"Put": {"TableName": self._table, "Item": serialize(item)}})
        dropped = sorted(set((old or {}).get("person_ids") or []) - set(people))
        open_ = event.status == "open"
        for person in [*people, *dropped]:
            adds = open_ and person in people
            writes.add(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": table.person_deals_key(tenant, person).item(),
                        # String-set ADD and DELETE are idempotent: a redelivery changes nothing.
                        "UpdateExpression": "SET tenant_id = :t, person_id = :p "
                        + ("ADD" if adds else "DELETE")
                        + " open_deal_ids :d",
                        "ExpressionAttributeValues": {
                            ":t": {"S": tenant},
                            ":p": {"S": person},
                            ":d": {"SS": [event.deal_id]},
                        },
                    }
                }
            )
        return writes
