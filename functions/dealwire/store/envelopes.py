"""Envelopes and recipients in the table: one conditional write per event, no read.

Keys and indexes are ``store.table``'s (``ENVELOPE``, ``RECIPIENT``, ``by_deal``,
``in_flight``); this module builds the conditional updates the ordering rule of
``domain.changes`` asks for, and reads the tracker, a deal's envelopes and the sweep.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from dealwire.domain.items import ItemKind
from dealwire.domain.tracker import Tracker, build_tracker
from dealwire.store import table
from dealwire.store.table import (
    BY_DEAL,
    IN_FLIGHT,
    ITEM_LIMIT_BYTES,
    TRANSACTION_LIMIT,
    ItemTooLarge,
    Page,
    TableStore,
    WriteConflict,
    attribute_value,
    cancellation_codes,
    cancelled_items,
    error_code,
    estimated_size,
    is_item_too_large,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dealwire.domain.changes import AttributeValue, ItemWrite

MAX_ATTEMPTS: Final = 4
# Room left for what earlier events put on the item (documents, markers) beside this write.
ITEM_BUDGET_BYTES: Final = ITEM_LIMIT_BYTES * 7 // 8


@dataclass(frozen=True, slots=True)
class ApplyResult:
    fresh: int
    stale: int
    requests: int

    @property
    def changed(self) -> bool:
        return self.fresh > 0


# One SET entry: attribute, value, and whether it only fills an absent attribute.
_Entry = tuple[str, "AttributeValue", bool]


class _Expression:
    """One UpdateExpression: SET entries in order, then REMOVEs, with placeholder names.

    Entry ``i`` is written ``#n{i} = :v{i}``, so the text and the name placeholders depend
    only on the attribute names: they are rendered once per shape (``_render``), and each
    write builds only its values.
    """

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.removes: list[str] = []

    def set(self, attribute: str, value: AttributeValue, *, only_if_absent: bool = False) -> int:
        """Add ``attribute = value``; its placeholders' index."""
        self.entries.append((attribute, value, only_if_absent))
        return len(self.entries) - 1

    def remove(self, attribute: str) -> None:
        self.removes.append(attribute)

    def __bool__(self) -> bool:
        return bool(self.entries or self.removes)

    def parameters(self) -> dict[str, Any]:
        shape = tuple((attribute, absent) for attribute, _, absent in self.entries)
        text, names = _render(shape, tuple(self.removes))
        return {
            "UpdateExpression": text,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": {
                f":v{index}": attribute_value(value) for index, (_, value, _) in enumerate(self.entries)
            },
        }


@lru_cache(maxsize=512)
def _render(shape: tuple[tuple[str, bool], ...], removes: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """The expression text and name placeholders for one shape of update."""
    names = {f"#n{index}": attribute for index, (attribute, _) in enumerate(shape)}
    names.update({f"#r{index}": attribute for index, attribute in enumerate(removes)})
    sets = [
        f"#n{index} = if_not_exists(#n{index}, :v{index})" if absent else f"#n{index} = :v{index}"
        for index, (_, absent) in enumerate(shape)
    ]
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if removes:
        parts.append("REMOVE " + ", ".join(f"#r{index}" for index in range(len(removes))))
    return " ".join(parts), names


def item_key(tenant_id: str, envelope_id: str, write: ItemWrite) -> table.Key:
    if write.kind == "envelope":
        return table.envelope_key(tenant_id, envelope_id)
    return table.recipient_key(tenant_id, envelope_id, write.recipient_id)


def _index_attributes(
    tenant_id: str, envelope_id: str, values: Mapping[str, AttributeValue]
) -> dict[str, str]:
    """The ``by_deal`` keys an envelope write implies."""
    found: dict[str, str] = {}
    deal = values.get("deal_id")
    if isinstance(deal, str):
        since = values.get("created_at") or values.get("sent_at") or values.get("generated") or ""
        found[BY_DEAL.pk] = table.deal_envelopes(tenant_id, deal)
        found[BY_DEAL.sk] = table.deal_envelope_sort(str(since), envelope_id)
    return found


def build_update(
    table_name: str,
    tenant_id: str,
    envelope_id: str,
    write: ItemWrite,
    *,
    stale_with: frozenset[str] | None = None,
    write_id: str | None = None,
) -> dict[str, Any] | None:
    """The UpdateItem parameters for ``write``.

    Conditional on the order key on the first attempt, which also stamps ``write_id`` so
    that a commit whose answer was lost is recognised as this write's own. Once DynamoDB
    has said the write is stale (``stale_with`` = the attribute names the stored item
    has), only the fill the item lacks and the ``always`` markers remain; ``None`` when
    nothing does.
    """
    expression = _Expression()
    ordered_attempt = write.order is not None and stale_with is None
    fill = dict(write.fill)
    if write.kind == "envelope":
        fill.update(_index_attributes(tenant_id, envelope_id, {**write.ordered, **write.fill}))
    if stale_with is not None:
        fill = {name: value for name, value in fill.items() if name not in stale_with}
    order = -1
    if ordered_attempt:
        for attribute, value in {**write.ordered, **fill}.items():
            expression.set(attribute, value)
        order = expression.set("order", write.order or "")
        if write_id:
            expression.set("write_id", write_id)
        in_flight = write.ordered.get("in_flight")
        if write.kind == "envelope" and in_flight is True:
            # Oldest change first: the poller's sweep asks about what has been quiet longest.
            changed = write.ordered.get("changed_at", write.ordered.get("generated"))
            expression.set(IN_FLIGHT.pk, table.in_flight(tenant_id))
            expression.set(IN_FLIGHT.sk, table.in_flight_sort(str(changed), envelope_id))
        elif write.kind == "envelope" and in_flight is False:
            expression.remove(IN_FLIGHT.pk)
            expression.remove(IN_FLIGHT.sk)
    else:
        for attribute, value in fill.items():
            expression.set(attribute, value, only_if_absent=True)
    for attribute, value in write.always.items():
        expression.set(attribute, value)
    if not expression:
        return None
    update: dict[str, Any] = {
        "TableName": table_name,
        "Key": item_key(tenant_id, envelope_id, write).item(),
        **expression.parameters(),
    }
    if ordered_attempt:
        update["ConditionExpression"] = f"attribute_not_exists(#n{order}) OR #n{order} < :v{order}"
        # A stale write learns what the item holds from the refusal itself: no read.
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def check_fits(tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite]) -> None:
    """Raise ``ItemTooLarge`` for a write whose item could not be stored (names which)."""
    for write in writes:
        key = item_key(tenant_id, envelope_id, write)
        size = estimated_size({"pk": key.pk, "sk": key.sk, **write.ordered, **write.fill, **write.always})
        if size > ITEM_BUDGET_BYTES:
            what = "the envelope item" if write.kind == "envelope" else f"recipient {write.recipient_id}"
            raise ItemTooLarge(what, size)


def _batches(writes: Sequence[ItemWrite]) -> list[Sequence[ItemWrite]]:
    """The transactions that record one event, the envelope's last.

    Up to 100 items commit together. A larger envelope (DocuSign allows far more
    recipients than one transaction holds) is written recipients first, the envelope in
    the final transaction: each item only ever moves forward under the ordering rule, so
    a reader between two transactions sees some recipients newer and the envelope as it
    was, never anything older; a retry after a failure re-applies the done part as stale
    (a no-op) and converges. The envelope's status, and what the stream derives from it
    (completion, the document job), come only once every recipient is recorded.
    """
    if len(writes) <= TRANSACTION_LIMIT:
        return [writes]
    envelope, recipients = writes[0], list(writes[1:])
    split = len(recipients) - (TRANSACTION_LIMIT - 1)
    early, last = recipients[:split], recipients[split:]
    batches: list[Sequence[ItemWrite]] = [
        early[start : start + TRANSACTION_LIMIT] for start in range(0, len(early), TRANSACTION_LIMIT)
    ]
    batches.append([envelope, *last])
    return batches


class EnvelopeStore(TableStore):
    def check_fits(self, tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite]) -> None:
        """Raise ``ItemTooLarge`` before anything is stored for an event that could not be."""
        check_fits(tenant_id, envelope_id, writes)

    def apply(
        self, tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite], *, fits_checked: bool = False
    ) -> ApplyResult:
        """Record one event: one request on the common path (UpdateItem or one transaction).

        A stale item cancels the transaction; the retry carries only what a stale write may
        still do (fill timestamps the item never had). No read is ever needed.
        ``fits_checked``: the caller ran ``check_fits`` on these writes already (to refuse
        before it archived anything), so it is not run twice.
        """
        if not fits_checked:
            check_fits(tenant_id, envelope_id, writes)
        fresh = stale = requests = 0
        for batch in _batches(writes):
            batch_fresh, batch_stale, batch_requests = self._apply_batch(tenant_id, envelope_id, batch)
            fresh, stale, requests = fresh + batch_fresh, stale + batch_stale, requests + batch_requests
        return ApplyResult(fresh=fresh, stale=stale, requests=requests)

    def _apply_batch(
        self, tenant_id: str, envelope_id: str, writes: Sequence[ItemWrite]
    ) -> tuple[int, int, int]:
        stale: dict[int, frozenset[str]] = {}
        requests = 0
        write_id = uuid.uuid4().hex
        for _ in range(MAX_ATTEMPTS):
            pending = [
                (index, update)
                for index, write in enumerate(writes)
                if (
                    update := build_update(
                        self._table,
                        tenant_id,
                        envelope_id,
                        write,
                        stale_with=stale.get(index),
                        write_id=write_id,
                    )
                )
            ]
            if pending:
                requests += 1
                refused = self._write(pending, write_id)
                if refused is not None:
                    stale.update(refused)
                    continue
            fresh = sum(1 for index, w in enumerate(writes) if w.order is not None and index not in stale)
            return fresh, len(stale), requests
        raise WriteConflict(f"envelope {envelope_id}: gave up after {MAX_ATTEMPTS} attempts")

    def _write(
        self, pending: list[tuple[int, dict[str, Any]]], write_id: str
    ) -> dict[int, frozenset[str]] | None:
        """Send the updates; on refusal, the stale ones with their stored attribute names.

        An empty mapping means "retry as is" (a transaction conflict).
        """
        try:
            if len(pending) == 1:
                self.client.update_item(**pending[0][1])
            else:
                self._transact([{"Update": update} for _, update in pending])  # type: ignore[typeddict-item]
        except ClientError as exc:
            if is_item_too_large(exc):
                raise ItemTooLarge("an item of the envelope", ITEM_LIMIT_BYTES) from exc
            code = error_code(exc)
            if code == "ConditionalCheckFailedException" and len(pending) == 1:
                response: dict[str, Any] = dict(exc.response)
                stored: dict[str, Any] = response.get("Item", {})
                if stored.get("write_id") == {"S": write_id}:
                    # Our own write committed and its answer was lost; botocore retried it.
                    return None
                return {pending[0][0]: frozenset(stored)}
            if code != "TransactionCanceledException":
                raise
            codes = cancellation_codes(exc)
            if not set(codes) <= {"None", "ConditionalCheckFailed", "TransactionConflict"}:
                raise
            return {
                index: frozenset(stored)
                for (index, _), reason, stored in zip(pending, codes, cancelled_items(exc), strict=False)
                if reason == "ConditionalCheckFailed"
            }
        return None

    def tracker(self, tenant_id: str, envelope_id: str) -> Tracker | None:
        """The envelope and its recipients: one Query."""
        items = self._query_all(table.envelope_key(tenant_id, envelope_id).pk)
        envelope = next((item for item in items if table.item_kind(item) is ItemKind.ENVELOPE), None)
        if envelope is None:
            return None
        recipients = [item for item in items if table.item_kind(item) is ItemKind.RECIPIENT]
        return build_tracker(envelope, recipients)

    def envelopes_of_deal(
        self, tenant_id: str, deal_id: str, *, limit: int = 25, cursor: str | None = None
    ) -> Page:
        """The deal's envelopes, newest first: one Query on ``by_deal``."""
        return self._query_page(
            table.deal_envelopes(tenant_id, deal_id), index=BY_DEAL, limit=limit, cursor=cursor, newest=True
        )

    def in_flight(
        self, tenant_id: str, *, limit: int = 100, cursor: str | None = None, quiet_since: str | None = None
    ) -> Page:
        """Envelopes not yet terminal, oldest change first: the poller's sparse sweep.

        ``quiet_since`` (a canonical timestamp): only those whose last change is older.
        """
        return self._query_page(
            table.in_flight(tenant_id),
            index=IN_FLIGHT,
            limit=limit,
            cursor=cursor,
            newest=False,
            sk_below=table.in_flight_sort(quiet_since, "") if quiet_since else None,
        )

    def quiet_in_flight(
        self, tenant_id: str, *, quiet_since: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[dict[str, str], str | None]:
        """The envelopes in flight whose last change is older than ``quiet_since``, oldest first,
        each with that change's time (read off the index's sort key); and the next page's cursor."""
        page = self.in_flight(tenant_id, limit=limit, cursor=cursor, quiet_since=quiet_since)
        found = {
            str(item["envelope_id"]): str(item.get(IN_FLIGHT.sk, "")).rsplit("#", 1)[0]
            for item in page.items
            if item.get("envelope_id")
        }
        return found, page.cursor

    def settled(self, tenant_id: str, envelope_ids: Sequence[str]) -> set[str]:
        """Which of ``envelope_ids`` dealwire has recorded as finished (completed, declined,
        voided...): one BatchGetItem per 100."""
        items = self._batch_get(
            [table.envelope_key(tenant_id, envelope_id) for envelope_id in envelope_ids],
            projection="envelope_id, in_flight",
        )
        return {str(item["envelope_id"]) for item in items if item.get("in_flight") is False}

    def envelope(self, tenant_id: str, envelope_id: str) -> dict[str, Any] | None:
        """The envelope item alone (no recipients): one GetItem."""
        return self._get(table.envelope_key(tenant_id, envelope_id))

    def record_void_request(self, tenant_id: str, envelope_id: str, *, by: str, reason: str, at: str) -> None:
        """Who asked DocuSign to void the envelope, and why; the Connect callback records the void itself."""
        self.client.update_item(
            TableName=self._table,
            Key=table.envelope_key(tenant_id, envelope_id).item(),
            UpdateExpression=(
                "SET void_requested_by = :by, void_requested_reason = :why, void_requested_at = :at"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":by": {"S": by}, ":why": {"S": reason}, ":at": {"S": at}},
        )

    def signed_documents(self, tenant_id: str, envelope_id: str) -> dict[str, Any]:
        """What the document job recorded for the envelope (empty when nothing yet)."""
        item = self._get(table.envelope_key(tenant_id, envelope_id), projection="signed_documents") or {}
        documents = item.get("signed_documents")
        return documents if isinstance(documents, dict) else {}

    def record_documents(
        self, tenant_id: str, envelope_id: str, documents: Mapping[str, Mapping[str, Any]], outcome: str
    ) -> None:
        """Point the envelope at its stored documents; the same call twice changes nothing."""
        self.client.update_item(
            TableName=self._table,
            Key=table.envelope_key(tenant_id, envelope_id).item(),
            UpdateExpression="SET signed_documents = :d, documents_outcome = :o",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":d": attribute_value({k: dict(v) for k, v in documents.items()}),
                ":o": {"S": outcome},
            },
        )
