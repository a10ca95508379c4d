"""The one DynamoDB table: its key layout, item kinds, (de)serialisation, paging and writes.

Every key of every item is built here, from the templates in ``LAYOUT``; stores call the
builders and never spell a key themselves, and the stream publisher learns an item's
kind from ``item_kind`` instead of matching key strings. The tenant is the first
segment of every partition key, so a request built from a tenant's keys can only ever
reach that tenant's items. The README's data-model table is ``markdown_layout()``
(a test keeps the two equal).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from dealwire.domain.items import ItemKind
from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

TRANSACTION_LIMIT: Final = 100
BATCH_GET_LIMIT: Final = 100
BATCH_GET_ATTEMPTS: Final = 5
# DynamoDB's item limit is 400 KB, names and values together.
ITEM_LIMIT_BYTES: Final = 400 * 1024


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    pk: str
    sk: str


BY_DEAL: Final = Index("by_deal", "gsi_deal_pk", "gsi_deal_sk")
IN_FLIGHT: Final = Index("in_flight", "gsi_inflight_pk", "gsi_inflight_sk")


@dataclass(frozen=True, slots=True)
class Layout:
    """One kind of item: its key templates (``{name}`` is a key part) and what it is for."""

    kind: ItemKind
    pk: str
    sk: str
    holds: str
    indexes: str = ""

    def key(self, **parts: str) -> Key:
        return Key(self.pk.format_map(parts), self.sk.format_map(parts))

    def pattern(self) -> re.Pattern[str]:
        """Matches ``pk + "\\n" + sk`` of this kind's items; the last part of each may hold ``#``."""

        def compile_part(template: str) -> str:
            pieces = re.split(r"(\{\w+\})", template)
            last = max((i for i, piece in enumerate(pieces) if piece.startswith("{")), default=-1)
            return "".join(
                re.escape(piece)
                if not piece.startswith("{")
                # A tenant id never holds "#"; the last free part (an address, say) may.
                else ".+"
                if i == last and piece != "{tenant}"
                else "[^#]+"
                for i, piece in enumerate(pieces)
            )

        return re.compile(f"{compile_part(self.pk)}\\n{compile_part(self.sk)}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Key:
    pk: str
    sk: str

    def item(self) -> dict[str, Any]:
        """The key as DynamoDB attribute values."""
        return {"pk": {"S": self.pk}, "sk": {"S": self.sk}}


_T = "T#{tenant}#"
ENVELOPE: Final = Layout(
    ItemKind.ENVELOPE,
    _T + "ENV#{envelope}",
    "ENVELOPE",
    "status, times, sender, deal; the order key of its last applied event",
    "`by_deal` (`T#<tenant>#DEAL#<deal>` / `<created>#<envelope>`), "
    "`in_flight` (`T#<tenant>#INFLIGHT` / `<changed>#<envelope>`, only while not terminal)",
)
RECIPIENT: Final = Layout(
    ItemKind.RECIPIENT,
    _T + "ENV#{envelope}",
    "RCP#{recipient}",
    "one recipient's status, times, routing order",
)
THREAD: Final = Layout(
    ItemKind.THREAD,
    _T + "THREAD#{thread}",
    "THREAD",
    "link state, contacts, deal, version",
    "`by_deal` (`T#<tenant>#DEAL#<deal>#THREADS` / `<started>#<thread>`)",
)
MESSAGE: Final = Layout(
    ItemKind.MESSAGE,
    _T + "THREAD#{thread}",
    "MSG#{sent}#{message}",
    "headers, parts (each with its object key, or its pack's key, `offset` and `packed`; size, "
    "SHA-256, type, name), owner, sharing",
)
MESSAGE_ID: Final = Layout(
    ItemKind.MESSAGE_ID, _T + "MID#{message}", "MID", "dedup of a Message-ID; References lookup"
)
SUBJECT: Final = Layout(
    ItemKind.SUBJECT, _T + "SUBJ#{subject}", "SUBJ", "thread of a subject and participants (no References)"
)
CONTACT_THREAD: Final = Layout(
    ItemKind.CONTACT_THREAD,
    _T + "PERSON#{person}",
    "THREAD#{started}#{thread}",
    "a contact's threads, newest first",
)
REJECTION: Final = Layout(
    ItemKind.REJECTION, _T + "REJECTED", "{received}#{ses_message}", "why a delivery was refused (30-day TTL)"
)
USER: Final = Layout(
    ItemKind.USER, _T + "USERS", "USER#{user}", "a CRM user: addresses, mail sharing, active"
)
CONTACT: Final = Layout(
    ItemKind.CONTACT, _T + "EMAIL#{address}", "CONTACT", "the person an address belongs to (newest owner)"
)
PERSON: Final = Layout(ItemKind.PERSON, _T + "PERSON#{person}", "PERSON", "a CRM person: name, addresses")
PERSON_DEALS: Final = Layout(
    ItemKind.PERSON_DEALS, _T + "PERSON#{person}", "DEALS", "the person's open deal ids (a string set)"
)
DEAL: Final = Layout(
    ItemKind.DEAL,
    _T + "DEAL#{deal}",
    "DEAL",
    "a CRM deal: title, status, contacts",
    "`by_deal` (`T#<tenant>#DEALS` / `<updated>#<deal>`, only while not deleted)",
)
INTEGRATION: Final = Layout(
    ItemKind.INTEGRATION,
    _T + "INTEGRATION",
    "DOCUSIGN",
    "the tenant's DocuSign connection: who connected it, the last callback, a key rotation",
)
CONSENT_STATE: Final = Layout(
    ItemKind.CONSENT_STATE,
    _T + "CONSENT#{state}",
    "STATE",
    "a one-time state of a consent in progress: who started it (15-minute TTL)",
)
RULE: Final = Layout(
    ItemKind.RULE,
    _T + "RULES",
    "RULE#{rule}",
    "an automation rule: its definition, version, who changed it last",
)
DEAL_STAGE: Final = Layout(
    ItemKind.DEAL_STAGE,
    _T + "DEAL#{deal}",
    "STAGE",
    "the deal's last applied stage change (its time and event): older ones change nothing",
)
AUTOMATION: Final = Layout(
    ItemKind.AUTOMATION,
    _T + "DEAL#{deal}",
    "AUTOMATION#{rule}",
    "one rule's signing process for the deal: the send id claimed, its envelope, outcome, skips",
)
IDEMPOTENCY: Final = Layout(
    ItemKind.IDEMPOTENCY,
    _T + "IDEMPOTENCY",
    "{key}",
    "Powertools idempotency: a CRM's Idempotency-Key and the first answer to it (24-hour TTL)",
)
POLL_STATE: Final = Layout(
    ItemKind.POLL_STATE,
    _T + "POLL",
    "STATE",
    "the status poller's watermark, an unfinished listing, the sweep's place, its lease, the last cycle",
)
API_BUDGET: Final = Layout(
    ItemKind.API_BUDGET,
    _T + "BUDGET",
    "HOUR#{hour}",
    "the DocuSign account's hourly API budget as last reported, and dealwire's calls that hour (2-day TTL)",
)

# The table's TimeToLiveSpecification (template.yaml): a Number of epoch seconds past which
# DynamoDB deletes the item. Only items meant to expire carry it.
TTL_ATTRIBUTE: Final = "expires_at"

LAYOUT: Final[tuple[Layout, ...]] = (
    ENVELOPE,
    RECIPIENT,
    THREAD,
    MESSAGE,
    MESSAGE_ID,
    SUBJECT,
    CONTACT_THREAD,
    REJECTION,
    USER,
    CONTACT,
    PERSON,
    PERSON_DEALS,
    DEAL,
    INTEGRATION,
    CONSENT_STATE,
    RULE,
    DEAL_STAGE,
    AUTOMATION,
    IDEMPOTENCY,
    POLL_STATE,
    API_BUDGET,
)
_PATTERNS: Final = tuple((layout.kind, layout.pattern()) for layout in LAYOUT)


# -- key builders: the only places a key is spelled ---------------------------------------


def envelope_key(tenant_id: str, envelope_id: str) -> Key:
    return ENVELOPE.key(tenant=tenant_id, envelope=envelope_id)


def recipient_key(tenant_id: str, envelope_id: str, recipient_id: str) -> Key:
    return RECIPIENT.key(tenant=tenant_id, envelope=envelope_id, recipient=recipient_id)


def recipient_prefix() -> str:
    return RECIPIENT.sk.split("{", 1)[0]


def deal_envelopes(tenant_id: str, deal_id: str) -> str:
    """``by_deal`` partition of a deal's envelopes."""
    return f"T#{tenant_id}#DEAL#{deal_id}"


def deal_envelope_sort(created: str, envelope_id: str) -> str:
    return f"{created}#{envelope_id}"


def in_flight(tenant_id: str) -> str:
    """``in_flight`` partition: a tenant's envelopes not yet terminal."""
    return f"T#{tenant_id}#INFLIGHT"


def in_flight_sort(changed: str, envelope_id: str) -> str:
    return f"{changed}#{envelope_id}"


def thread_key(tenant_id: str, thread_id: str) -> Key:
    return THREAD.key(tenant=tenant_id, thread=thread_id)


def message_key(tenant_id: str, thread_id: str, sent_at: str, message: str) -> Key:
    return MESSAGE.key(tenant=tenant_id, thread=thread_id, sent=sent_at, message=message)


def message_prefix() -> str:
    return MESSAGE.sk.split("{", 1)[0]


def message_id_key(tenant_id: str, message: str) -> Key:
    return MESSAGE_ID.key(tenant=tenant_id, message=message)


def subject_key(tenant_id: str, subject: str) -> Key:
    return SUBJECT.key(tenant=tenant_id, subject=subject)


def contact_thread_key(tenant_id: str, person_id: str, started: str, thread_id: str) -> Key:
    return CONTACT_THREAD.key(tenant=tenant_id, person=person_id, started=started, thread=thread_id)


def contact_thread_prefix() -> str:
    return CONTACT_THREAD.sk.split("{", 1)[0]


def deal_list(tenant_id: str) -> str:
    """``by_deal`` partition of a tenant's deals (the deleted ones are not in it)."""
    return f"T#{tenant_id}#DEALS"


def deal_list_sort(updated: str, deal_id: str) -> str:
    return f"{updated}#{deal_id}"


def deal_partition(tenant_id: str, deal_id: str) -> str:
    """The table partition of a deal: the deal, its stage, its rules' signing processes."""
    return DEAL.pk.format(tenant=tenant_id, deal=deal_id)


def deal_threads(tenant_id: str, deal_id: str) -> str:
    """``by_deal`` partition of a deal's threads."""
    return f"T#{tenant_id}#DEAL#{deal_id}#THREADS"


def deal_thread_sort(started: str, thread_id: str) -> str:
    return f"{started}#{thread_id}"


def rejection_key(tenant_id: str, received_at: str, ses_message_id: str) -> Key:
    return REJECTION.key(tenant=tenant_id, received=received_at, ses_message=ses_message_id)


def user_key(tenant_id: str, user_id: str) -> Key:
    return USER.key(tenant=tenant_id, user=user_id)


def users_partition(tenant_id: str) -> str:
    return USER.pk.format(tenant=tenant_id)


def contact_key(tenant_id: str, address: str) -> Key:
    return CONTACT.key(tenant=tenant_id, address=address.lower())


def person_key(tenant_id: str, person_id: str) -> Key:
    return PERSON.key(tenant=tenant_id, person=person_id)


def person_deals_key(tenant_id: str, person_id: str) -> Key:
    return PERSON_DEALS.key(tenant=tenant_id, person=person_id)


def deal_key(tenant_id: str, deal_id: str) -> Key:
    return DEAL.key(tenant=tenant_id, deal=deal_id)


def integration_key(tenant_id: str) -> Key:
    return INTEGRATION.key(tenant=tenant_id)


def consent_state_key(tenant_id: str, state: str) -> Key:
    return CONSENT_STATE.key(tenant=tenant_id, state=state)


def rules_partition(tenant_id: str) -> str:
    return RULE.key(tenant=tenant_id, rule="").pk


def rule_key(tenant_id: str, rule_id: str) -> Key:
    return RULE.key(tenant=tenant_id, rule=rule_id)


def deal_stage_key(tenant_id: str, deal_id: str) -> Key:
    return DEAL_STAGE.key(tenant=tenant_id, deal=deal_id)


def automation_key(tenant_id: str, deal_id: str, rule_id: str) -> Key:
    return AUTOMATION.key(tenant=tenant_id, deal=deal_id, rule=rule_id)


def idempotency_partition(tenant_id: str) -> str:
    return IDEMPOTENCY.key(tenant=tenant_id, key="").pk


def idempotency_key(tenant_id: str, key: str) -> Key:
    return IDEMPOTENCY.key(tenant=tenant_id, key=key)


def poll_state_key(tenant_id: str) -> Key:
    return POLL_STATE.key(tenant=tenant_id)


def api_budget_key(tenant_id: str, hour: str) -> Key:
    """``hour``: the UTC hour of DocuSign's window, ``YYYY-MM-DDTHH``."""
    return API_BUDGET.key(tenant=tenant_id, hour=hour)


def item_kind(item: Mapping[str, Any]) -> ItemKind | None:
    """What an item (plain attributes, as deserialised) is, from its keys alone."""
    pk, sk = item.get("pk"), item.get("sk")
    if not isinstance(pk, str) or not isinstance(sk, str):
        return None
    joined = f"{pk}\n{sk}"
    return next((kind for kind, pattern in _PATTERNS if pattern.fullmatch(joined)), None)


def markdown_layout() -> str:
    """The data-model table of the README."""

    def shown(template: str) -> str:
        return "`" + re.sub(r"\{(\w+)\}", r"<\1>", template) + "`"

    rows = ["| item | `pk` | `sk` | holds | indexes |", "|---|---|---|---|---|"]
    rows += [
        f"| {layout.kind.value.replace('_', ' ')} | {shown(layout.pk)} | {shown(layout.sk)} | "
        f"{layout.holds} | {layout.indexes} |"
        for layout in LAYOUT
    ]
    return "\n".join(rows)


# -- (de)serialisation ---------------------------------------------------------------------

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:  # noqa: ANN401 - DynamoDB documents are untyped
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain Python (ints, floats, lists for sets)."""
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or expression values) as DynamoDB attribute values; None attributes are left out."""
    return {name: attribute_value(value) for name, value in item.items() if value is not None}


# DynamoDB numbers hold 38 significant digits; boto3 refuses a longer int, and so do we.
_EXACT_INT = 10**38


def attribute_value(value: Any) -> dict[str, Any]:  # noqa: ANN401 - any storable value
    """``value`` as a DynamoDB attribute value, exactly as boto3's ``TypeSerializer`` writes it.

    Strings, booleans and small ints (nearly every value the webhook writes) are built
    directly: the serializer's type dispatch was a tenth of the webhook's own CPU per
    event (make bench). Everything else goes through the serializer.
    """
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int and -_EXACT_INT < value < _EXACT_INT:
        return {"N": str(value)}
    return dict(_serializer.serialize(value))


def estimated_size(attributes: Mapping[str, Any]) -> int:
    """An upper estimate of an item's size as DynamoDB counts it (names plus values, UTF-8)."""
    size = 0
    for name, value in attributes.items():
        size += len(name.encode())
        # Strings inline: nearly every value is one, and the webhook sizes every write.
        size += len(value.encode("utf-8", "replace")) if type(value) is str else _value_size(value)
    return size


def _value_size(value: Any) -> int:  # noqa: ANN401, PLR0911 - one case per DynamoDB type
    if isinstance(value, str):
        return len(value.encode("utf-8", "replace"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return 21
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(1 + _value_size(v) for v in value)
    return len(str(value).encode())


# -- paging ---------------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A paging cursor that this store did not issue (or issued for another query)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    cursor: str | None


def encode_cursor(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, partition: str, attribute: str) -> dict[str, Any]:
    """The LastEvaluatedKey inside ``cursor``, refused unless it belongs to ``partition``."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not isinstance(key, dict) or key.get(attribute) != {"S": partition}:
        # Also what keeps a cursor from one tenant or deal paging through another's.
        raise InvalidCursor("cursor belongs to another query")
    return key


# -- refusals -------------------------------------------------------------------------------


class WriteConflict(RuntimeError):
    """Concurrent writers kept changing what this write is conditional on; retry later."""


class Throttled(RuntimeError):
    """DynamoDB kept leaving keys unprocessed (throttled reads); the caller's retry should follow."""


class ItemTooLarge(ValueError):
    """An item would pass DynamoDB's 400 KB limit; ``what`` names it."""

    def __init__(self, what: str, size: int) -> None:
        super().__init__(
            f"{what} would be about {size} bytes, over DynamoDB's item limit of {ITEM_LIMIT_BYTES}"
        )
        self.what = what
        self.size = size


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# What AWS answers when a table (or another service) is over its rate, after botocore's own
# retries: a caller should retry later, not treat it as a failure of the request.
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def is_throttling(exc: ClientError) -> bool:
    return error_code(exc) in THROTTLING_CODES


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per item of a cancelled transaction, why: ``None``, ``ConditionalCheckFailed``, ..."""
    return [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]


def cancelled_items(exc: ClientError) -> list[dict[str, Any]]:
    """Per item of a cancelled transaction, the stored item that failed its condition (or {})."""
    return [dict(reason.get("Item", {})) for reason in exc.response.get("CancellationReasons", [])]


def is_item_too_large(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) == "ValidationException" and "item size" in message.lower()


# -- the adapter every store builds on ------------------------------------------------------


class TableStore:
    """A store over the table: its client (built lazily, shared) and the requests all stores make."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def table_name(self) -> str:
        return self._table

    @property
    def client(self) -> DynamoDBClient:
        return self._client or clients.dynamodb()

    def _get(
        self, key: Key, *, consistent: bool = False, projection: str | None = None
    ) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": key.item(), "ConsistentRead": consistent}
        if projection:
            kwargs["ProjectionExpression"] = projection
        answer = self.client.get_item(**kwargs)
        return deserialize(answer["Item"]) if "Item" in answer else None

    def _query_page(
        self,
        partition: str,
        *,
        index: Index | None = None,
        limit: int,
        cursor: str | None,
        newest: bool,
        sk_prefix: str | None = None,
        sk_below: str | None = None,
        max_limit: int = 1000,
    ) -> Page:
        """One page of a partition (of the table or an index), with an opaque cursor for the next;
        ``sk_below``: only sort keys that compare lower."""
        attribute = index.pk if index else "pk"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": attribute},
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": not newest,
            "Limit": max(1, min(limit, max_limit)),
        }
        if index:
            kwargs["IndexName"] = index.name
        if sk_prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(#s, :s)"
            kwargs["ExpressionAttributeNames"]["#s"] = index.sk if index else "sk"
            kwargs["ExpressionAttributeValues"][":s"] = {"S": sk_prefix}
        if sk_below:
            kwargs["KeyConditionExpression"] += " AND #b < :b"
            kwargs["ExpressionAttributeNames"]["#b"] = index.sk if index else "sk"
            kwargs["ExpressionAttributeValues"][":b"] = {"S": sk_below}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, partition, attribute)
        answer = self.client.query(**kwargs)
        last = answer.get("LastEvaluatedKey")
        return Page(
            items=[deserialize(item) for item in answer.get("Items", [])],
            cursor=encode_cursor(last) if last else None,
        )

    def _query_all(self, partition: str, *, sk_prefix: str | None = None) -> list[dict[str, Any]]:
        """Every item of a partition: one Query, followed past 1 MB pages."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
        }
        if sk_prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :s)"
            kwargs["ExpressionAttributeValues"][":s"] = {"S": sk_prefix}
        found: list[dict[str, Any]] = []
        while True:
            answer = self.client.query(**kwargs)
            found.extend(deserialize(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return found
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _batch_get(self, keys: Iterable[Key], *, projection: str | None = None) -> list[dict[str, Any]]:
        """Every item of ``keys`` that exists: one BatchGetItem per 100 keys, unprocessed ones retried."""
        unique = list(dict.fromkeys(keys))
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                "Keys": [key.item() for key in unique[start : start + BATCH_GET_LIMIT]]
            }
            if projection:
                request["ProjectionExpression"] = projection
            pending: dict[str, Any] = {self._table: request}
            for attempt in range(BATCH_GET_ATTEMPTS):
                answer = self.client.batch_get_item(RequestItems=pending)
                found.extend(deserialize(item) for item in answer.get("Responses", {}).get(self._table, []))
                pending = dict(answer.get("UnprocessedKeys") or {})
                if not pending:
                    break
                # DynamoDB's advice for unprocessed keys: back off, then ask again.
                time.sleep(0.05 * 2**attempt)
            else:
                raise Throttled(f"DynamoDB left keys unprocessed after {BATCH_GET_ATTEMPTS} attempts")
        return found

    def _release_lease(self, key: Key, owner: str) -> None:
        """Let go of the lease an item holds for ``owner`` (``lease_owner``/``lease_until``);
        nothing when another holds it now (it ran out, and was taken)."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=key.item(),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _transact(self, items: Sequence[TransactWriteItemTypeDef]) -> None:
        """One transaction, with its own idempotency token.

        botocore retries a request whose answer was lost (a read timeout) with the same
        token, and DynamoDB answers a repeat of a committed transaction with success for
        ten minutes: so a commit is never mistaken for a cancellation on the way back.
        """
        self.client.transact_write_items(TransactItems=list(items), ClientRequestToken=str(uuid.uuid4()))
