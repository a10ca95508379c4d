"""The CRM projection: users, contacts by address, deals per contact, kept from CRM events.

==================  ========================================  ==============================
item                pk / sk                                   holds
==================  ========================================  ==============================
user                ``T#<t>#USERS`` / ``USER#<user>``         addresses, mail sharing
contact address     ``T#<t>#EMAIL#<address>`` / ``CONTACT``   the person it belongs to
person              ``T#<t>#PERSON#<person>`` / ``PERSON``    name, addresses
person's deal       ``T#<t>#PERSON#<person>`` / ``DEAL#<d>``  the deal's state and title
deal                ``T#<t>#DEAL#<deal>`` / ``DEAL``          state, title, contacts
==================  ========================================  ==============================

Every write is conditional on the CRM's ``updatedAt``, so the newest version wins
whatever order events arrive in; a redelivery of the newest one applies again harmlessly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dealwire.store import clients
from dealwire.store.envelopes import deserialize, serialize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from dealwire.contracts.crm import DealUpserted, PersonUpserted, UserUpserted

MAX_ATTEMPTS = 4


def users_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#USERS"


def email_pk(tenant_id: str, address: str) -> str:
    return f"T#{tenant_id}#EMAIL#{address.lower()}"


def person_pk(tenant_id: str, person_id: str) -> str:
    return f"T#{tenant_id}#PERSON#{person_id}"


def deal_pk(tenant_id: str, deal_id: str) -> str:
    return f"T#{tenant_id}#DEAL#{deal_id}"


def item_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class StaleEvent(Exception):
    """The projection already holds this version or a newer one."""


class CrmProjection:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or clients.dynamodb()

    def upsert_user(self, event: UserUpserted) -> bool:
        """One conditional put; False when the event is older than what is stored."""
        item = serialize(
            {
                "pk": users_pk(event.tenant_id),
                "sk": f"USER#{event.user_id}",
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
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def upsert_person(self, event: PersonUpserted) -> bool:
        """The person and one item per address, in one transaction; addresses it lost are removed."""
        return self._versioned(
            person_pk(event.tenant_id, event.person_id),
            "PERSON",
            event.updated_at,
            lambda old: self._person_writes(event, old),
        )

    def upsert_deal(self, event: DealUpserted) -> bool:
        """The deal and its link on each contact, in one transaction; dropped contacts unlinked."""
        return self._versioned(
            deal_pk(event.tenant_id, event.deal_id),
            "DEAL",
            event.updated_at,
            lambda old: self._deal_writes(event, old),
        )

    def _versioned(self, pk: str, sk: str, updated_at: str, build: Any) -> bool:  # noqa: ANN401
        """Read the entity's stored version, write the new one on condition it is unchanged."""
        for _ in range(MAX_ATTEMPTS):
            answer = self.client.get_item(TableName=self._table, Key=item_key(pk, sk), ConsistentRead=True)
            old = deserialize(answer["Item"]) if "Item" in answer else None
            if old and str(old.get("updated_at", "")) > updated_at:
                return False
            head: TransactWriteItemTypeDef
            writes: list[TransactWriteItemTypeDef] = build(old)
            head = writes[0]
            put = head["Put"]
            if old is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "updated_at = :old"
                put["ExpressionAttributeValues"] = {":old": {"S": str(old.get("updated_at", ""))}}
            try:
                self.client.transact_write_items(TransactItems=writes)
            except ClientError as exc:
                if _code(exc) == "TransactionCanceledException":
                    continue
                raise
            return True
        raise StaleEvent(f"{pk} kept changing while it was written; the event is retried")

    def _person_writes(
        self, event: PersonUpserted, old: dict[str, Any] | None
    ) -> list[TransactWriteItemTypeDef]:
        tenant = event.tenant_id
        emails = [] if event.deleted else list(dict.fromkeys(event.emails))
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": person_pk(tenant, event.person_id),
                            "sk": "PERSON",
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
        ]
        for address in emails:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": email_pk(tenant, address),
                                "sk": "CONTACT",
                                "tenant_id": tenant,
                                "email": address,
                                "person_id": event.person_id,
                                "name": event.name,
                                "updated_at": event.updated_at,
                            }
                        ),
                        # An address that moved to another person keeps the newer owner.
                        "ConditionExpression": (
                            "attribute_not_exists(pk) OR person_id = :p OR updated_at <= :u"
                        ),
                        "ExpressionAttributeValues": {
                            ":p": {"S": event.person_id},
                            ":u": {"S": event.updated_at},
                        },
                    }
                }
            )
        for address in sorted(set((old or {}).get("emails") or []) - set(emails)):
            writes.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": item_key(email_pk(tenant, address), "CONTACT"),
                        "ConditionExpression": "attribute_not_exists(pk) OR person_id = :p",
                        "ExpressionAttributeValues": {":p": {"S": event.person_id}},
                    }
                }
            )
        return writes

    def _deal_writes(self, event: DealUpserted, old: dict[str, Any] | None) -> list[TransactWriteItemTypeDef]:
        tenant = event.tenant_id
        people = [] if event.status == "deleted" else list(dict.fromkeys(event.person_ids))
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": deal_pk(tenant, event.deal_id),
                            "sk": "DEAL",
                            "tenant_id": tenant,
                            "deal_id": event.deal_id,
                            "title": event.title,
                            "status": event.status,
                            "person_ids": people,
                            "owner_user_id": event.owner_user_id,
                            "updated_at": event.updated_at,
                        }
                    ),
                }
            }
        ]
        for person in people:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": person_pk(tenant, person),
                                "sk": f"DEAL#{event.deal_id}",
                                "tenant_id": tenant,
                                "deal_id": event.deal_id,
                                "title": event.title,
                                "status": event.status,
                                "updated_at": event.updated_at,
                            }
                        ),
                    }
                }
            )
        for person in sorted(set((old or {}).get("person_ids") or []) - set(people)):
            writes.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": item_key(person_pk(tenant, person), f"DEAL#{event.deal_id}"),
                    }
                }
            )
        return writes


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
