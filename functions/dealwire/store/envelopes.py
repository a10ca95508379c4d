"""Envelopes and recipients in the DynamoDB table.

Keys (the tenant is in every partition key):

========================  ==========================================  =========================
item                      pk / sk                                     indexes
========================  ==========================================  =========================
envelope                  ``T#<tenant>#ENV#<id>`` / ``ENVELOPE``      ``by_deal``, ``in_flight``
recipient                 ``T#<tenant>#ENV#<id>`` / ``RCP#<rid>``
========================  ==========================================  =========================

``by_deal``: ``T#<tenant>#DEAL#<deal>`` / ``<created>#<envelope>`` (the deal's envelopes,
newest first). ``in_flight``: ``T#<tenant>#INFLIGHT`` / ``<status changed>#<envelope>``,
present only while the envelope is not terminal (the poller's sparse sweep).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from dealwire.domain.tracker import Tracker, build_tracker
from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

    from dealwire.domain.changes import AttributeValue, ItemWrite

ENVELOPE_SK = "ENVELOPE"
RECIPIENT_PREFIX = "RCP#"
TRANSACTION_LIMIT = 100
MAX_ATTEMPTS = 4

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def envelope_pk(tenant_id: str, envelope_id: str) -> str:
    return f"T#{tenant_id}#ENV#{envelope_id}"


def item_key(tenant_id: str, envelope_id: str, write: ItemWrite) -> dict[str, Any]:
    sk = ENVELOPE_SK if write.kind == "envelope" else RECIPIENT_PREFIX + write.recipient_id
    return {"pk": {"S": envelope_pk(tenant_id, envelope_id)}, "sk": {"S": sk}}


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
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not isinstance(key, dict) or key.get(attribute) != {"S": partition}:
        # Also what keeps a cursor from one tenant or deal paging through another's.
        raise InvalidCursor("cursor belongs to another query")
    return key


class StoreConflict(RuntimeError):
    """Concurrent writers kept cancelling the transaction; the caller should retry later."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    fresh: int
    stale: int
    requests: int

    @property
    def changed(self) -> bool:
        return self.fresh > 0


class _Expression:
    """Builds one UpdateExpression with placeholder names and values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: AttributeValue) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = _serializer.serialize(value)
        return placeholder

    def set(self, attribute: str, value: AttributeValue, *, only_if_absent: bool = False) -> None:
        name, placeholder = self.name(attribute), self.value(value)
        self.sets.append(
            f"{name} = if_not_exists({name}, {placeholder})" if only_if_absent else f"{name} = {placeholder}"
        )

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def render(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)


def _index_attributes(
    tenant_id: str, envelope_id: str, values: Mapping[str, AttributeValue]
) -> dict[str, str]:
    """The sparse index keys an envelope write implies."""
    found: dict[str, str] = {}
    deal = values.get("deal_id")
    if isinstance(deal, str):
        since = values.get("created_at") or values.get("sent_at") or values.get("generated") or ""
        found["gsi_deal_pk"] = f"T#{tenant_id}#DEAL#{deal}"
        found["gsi_deal_sk"] = f"{since}#{envelope_id}"
    return found


def build_update(
    table: str,
    tenant_id: str,
    envelope_id: str,
    write: ItemWrite,
    *,
    stale_with: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """The UpdateItem parameters for ``write``.

    Conditional on the order key on the first attempt. Once DynamoDB has said the write
    is stale (``stale_with`` = the attribute names the stored item has), only the fill
    the item lacks and the ``always`` markers remain; ``None`` when nothing does.
    """
    expression = _Expression()
    ordered_attempt = write.order is not None and stale_with is None
    fill = dict(write.fill)
    if write.kind == "envelope":
        fill.update(_index_attributes(tenant_id, envelope_id, {**write.ordered, **write.fill}))
    if stale_with is not None:
        fill = {name: value for name, value in fill.items() if name not in stale_with}
    if ordered_attempt:
        for attribute, value in {**write.ordered, **fill}.items():
            expression.set(attribute, value)
        order_name, order_value = expression.name("order"), expression.value(write.order or "")
        expression.sets.append(f"{order_name} = {order_value}")
        in_flight = write.ordered.get("in_flight")
        if write.kind == "envelope" and in_flight is True:
            changed = write.ordered.get("status_changed_at", write.ordered.get("generated"))
            expression.set("gsi_inflight_pk", f"T#{tenant_id}#INFLIGHT")
            expression.set("gsi_inflight_sk", f"{changed}#{envelope_id}")
        elif write.kind == "envelope" and in_flight is False:
            expression.remove("gsi_inflight_pk")
            expression.remove("gsi_inflight_sk")
    else:
        for attribute, value in fill.items():
            expression.set(attribute, value, only_if_absent=True)
    for attribute, value in write.always.items():
        expression.set(attribute, value)
    if not expression.sets and not expression.removes:
        return None
    update: dict[str, Any] = {
        "TableName": table,
        "Key": item_key(tenant_id, envelope_id, write),
        "UpdateExpression": expression.render(),
        "ExpressionAttributeNames": expression.names,
        "ExpressionAttributeValues": expression.values,
    }
    if ordered_attempt:
        update["ConditionExpression"] = f"attribute_not_exists({order_name}) OR {order_name} < {order_value}"
        # A stale write learns what the item holds from the refusal itself: no read.
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def _plain(value: Any) -> Any:  # noqa: ANN401 - DynamoDB documents are untyped
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or expression values) as DynamoDB attribute values; None attributes are left out."""
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def query_page(
    client: DynamoDBClient,
    table: str,
    attribute: str,
    partition: str,
    *,
    index: str | None = None,
    limit: int,
    cursor: str | None,
    newest: bool,
    sk_prefix: str | None = None,
    max_limit: int = 1000,
) -> Page:
    """One page of a partition (of the table or an index), with an opaque cursor for the next."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": attribute},
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "ScanIndexForward": not newest,
        "Limit": max(1, min(limit, max_limit)),
    }
    if index:
        kwargs["IndexName"] = index
    if sk_prefix:
        kwargs["KeyConditionExpression"] += " AND begins_with(sk, :sk)"
        kwargs["ExpressionAttributeValues"][":sk"] = {"S": sk_prefix}
    if cursor:
        kwargs["ExclusiveStartKey"] = decode_cursor(cursor, partition, attribute)
    answer = client.query(**kwargs)
    last = answer.get("LastEvaluatedKey")
    return Page(
        items=[deserialize(item) for item in answer.get("Items", [])],
        cursor=encode_cursor(last) if last else None,
    )


class EnvelopeStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or clients.dynamodb()

    def apply(self, tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite]) -> ApplyResult:
        """Record one event: one request on the common path (UpdateItem or one transaction).

        A stale item cancels the transaction; the retry carries only what a stale write may
        still do (fill timestamps the item never had). No read is ever needed.
        """
        fresh = stale = requests = 0
        for start in range(0, len(writes), TRANSACTION_LIMIT):
            chunk = writes[start : start + TRANSACTION_LIMIT]
            chunk_fresh, chunk_stale, chunk_requests = self._apply_chunk(tenant_id, envelope_id, chunk)
            fresh, stale, requests = fresh + chunk_fresh, stale + chunk_stale, requests + chunk_requests
        return ApplyResult(fresh=fresh, stale=stale, requests=requests)

    def _apply_chunk(
        self, tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite]
    ) -> tuple[int, int, int]:
        stale: dict[int, frozenset[str]] = {}
        requests = 0
        for _ in range(MAX_ATTEMPTS):
            pending = [
                (index, update)
                for index, write in enumerate(writes)
                if (
                    update := build_update(
                        self._table, tenant_id, envelope_id, write, stale_with=stale.get(index)
                    )
                )
            ]
            if pending:
                requests += 1
                refused = self._write(pending)
                if refused is not None:
                    stale.update(refused)
                    continue
            fresh = sum(1 for index, w in enumerate(writes) if w.order is not None and index not in stale)
            return fresh, len(stale), requests
        raise StoreConflict(f"envelope {envelope_id}: gave up after {MAX_ATTEMPTS} attempts")

    def _write(self, pending: list[tuple[int, dict[str, Any]]]) -> dict[int, frozenset[str]] | None:
        """Send the updates; on refusal, the stale ones with their stored attribute names.

        An empty mapping means "retry as is" (a transaction conflict).
        """
        try:
            if len(pending) == 1:
                self.client.update_item(**pending[0][1])
            else:
                self.client.transact_write_items(
                    TransactItems=[{"Update": update} for _, update in pending]  # type: ignore[typeddict-item]
                )
        except ClientError as exc:
            response: dict[str, Any] = dict(exc.response)
            code = response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException" and len(pending) == 1:
                return {pending[0][0]: frozenset(response.get("Item", {}))}
            if code != "TransactionCanceledException":
                raise
            reasons = response.get("CancellationReasons", [])
            codes = {reason.get("Code") for reason in reasons}
            if not codes <= {"None", "ConditionalCheckFailed", "TransactionConflict", None}:
                raise
            return {
                index: frozenset(reason.get("Item", {}))
                for (index, _), reason in zip(pending, reasons, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            }
        return None

    def tracker(self, tenant_id: str, envelope_id: str) -> Tracker | None:
        """The envelope and its recipients: one Query."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": envelope_pk(tenant_id, envelope_id)}},
        }
        while True:
            page = self.client.query(**kwargs)
            items.extend(deserialize(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        envelope = next((item for item in items if item["sk"] == ENVELOPE_SK), None)
        if envelope is None:
            return None
        recipients = [item for item in items if str(item["sk"]).startswith(RECIPIENT_PREFIX)]
        return build_tracker(envelope, recipients)

    def envelopes_of_deal(
        self, tenant_id: str, deal_id: str, *, limit: int = 25, cursor: str | None = None
    ) -> Page:
        """The deal's envelopes, newest first: one Query on ``by_deal``."""
        return query_page(
            self.client,
            self._table,
            "gsi_deal_pk",
            f"T#{tenant_id}#DEAL#{deal_id}",
            index="by_deal",
            limit=limit,
            cursor=cursor,
            newest=True,
        )

    def in_flight(self, tenant_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Envelopes not yet terminal, oldest change first: the poller's sparse sweep."""
        return query_page(
            self.client,
            self._table,
            "gsi_inflight_pk",
            f"T#{tenant_id}#INFLIGHT",
            index="in_flight",
            limit=limit,
            cursor=cursor,
            newest=False,
        )

    def signed_documents(self, tenant_id: str, envelope_id: str) -> dict[str, Any]:
        """What the document job recorded for the envelope (empty when nothing yet)."""
        answer = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": envelope_pk(tenant_id, envelope_id)}, "sk": {"S": ENVELOPE_SK}},
            ProjectionExpression="signed_documents",
        )
        documents = deserialize(answer.get("Item", {})).get("signed_documents")
        return documents if isinstance(documents, dict) else {}

    def record_documents(
        self, tenant_id: str, envelope_id: str, documents: Mapping[str, Mapping[str, Any]], outcome: str
    ) -> None:
        """Point the envelope at its stored documents; the same call twice changes nothing."""
        self.client.update_item(
            TableName=self._table,
            Key={"pk": {"S": envelope_pk(tenant_id, envelope_id)}, "sk": {"S": ENVELOPE_SK}},
            UpdateExpression="SET signed_documents = :d, documents_outcome = :o",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":d": _serializer.serialize({k: dict(v) for k, v in documents.items()}),
                ":o": {"S": outcome},
            },
        )
