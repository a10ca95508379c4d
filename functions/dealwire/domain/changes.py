"""What one Connect event writes, and the ordering rule that makes replays harmless.

Every item (the envelope, each recipient) carries an order key
``<changed>|<status rank>|<generated>|<digest>``: fixed-width, so one string comparison
orders two events by when DocuSign says the envelope changed (``ConnectEvent.changed``:
the latest time a snapshot reports), then by how far the signing has got, then by when
the message was made (a later message about the same moment knows more), then
deterministically by content. Ordering by the change rather than the message keeps a
poll's read of the envelope (which has no message time) and a late callback about the
same change harmless in either order; Connect's ``generatedDateTime`` lags the change
by seconds, so ordered by it a late callback could undo what a poll had found since.
A write whose key is not greater than the stored one is stale; it changes nothing but
may still fill a timestamp the item has never had (an older "delivered" arriving after a
newer "completed"). That keeps one conditional write
per event on the common path and makes the final state independent of arrival order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from dealwire.domain.status import (
    ENVELOPE_EVENT_STATUS,
    ENVELOPE_TERMINAL,
    RECIPIENT_EVENT_STATUS,
    EnvelopeStatus,
    RecipientStatus,
    envelope_rank,
    recipient_rank,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dealwire.domain.envelope_event import ChangeSource, ConnectEvent, RecipientState

ItemKind = Literal["envelope", "recipient"]
AttributeValue = str | int | bool | dict[str, "AttributeValue"] | list["AttributeValue"]

# Which timestamp a status sets when all a minimal message says is its event name.
_STATUS_TIMESTAMP: dict[str, str] = {
    EnvelopeStatus.CREATED: "created_at",
    EnvelopeStatus.SENT: "sent_at",
    EnvelopeStatus.DELIVERED: "delivered_at",
    EnvelopeStatus.SIGNED: "signed_at",
    EnvelopeStatus.COMPLETED: "completed_at",
    EnvelopeStatus.DECLINED: "declined_at",
    EnvelopeStatus.VOIDED: "voided_at",
    EnvelopeStatus.DELETED: "deleted_at",
}
_RECIPIENT_STATUS_TIMESTAMP: dict[str, str] = {
    RecipientStatus.SENT: "sent_at",
    RecipientStatus.AUTORESPONDED: "autoresponded_at",
    RecipientStatus.DELIVERED: "delivered_at",
    RecipientStatus.SIGNED: "signed_at",
    RecipientStatus.COMPLETED: "signed_at",
    RecipientStatus.DECLINED: "declined_at",
}


@dataclass(frozen=True, slots=True)
class ItemWrite:
    """One item's share of an event.

    ``ordered`` is applied only when ``order`` beats the stored key; ``fill`` is applied
    then too, and otherwise only where the item lacks the attribute; ``always`` is
    applied either way (idempotent markers). A write with ``order=None`` orders nothing:
    it only fills and marks.
    """

    kind: ItemKind
    recipient_id: str
    order: str | None
    ordered: Mapping[str, AttributeValue] = field(default_factory=dict)
    fill: Mapping[str, AttributeValue] = field(default_factory=dict)
    always: Mapping[str, AttributeValue] = field(default_factory=dict)


def order_key(changed: str, rank: int, generated: str, content: Mapping[str, AttributeValue]) -> str:
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
        :16
    ]
    return f"{changed}|{rank:03d}|{generated}|{digest}"


def _present(values: Mapping[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    return {name: value for name, value in values.items() if value is not None}


def plan_writes(
    event: ConnectEvent,
    *,
    tenant_id: str,
    archive_key: str,
    documents: Mapping[str, AttributeValue] | None = None,
    refreshed: bool = False,
    source: ChangeSource = "connect",
) -> list[ItemWrite]:
    """The item writes that record ``event``: the envelope first, then its recipients.

    ``refreshed``: the event is the envelope as read from the API, answering a refresh
    request, which it clears. ``source``: what brought it, recorded with the change it
    makes (``last_source``: "poll" on an envelope means Connect did not bring it first).
    """
    identity = {
        "tenant_id": tenant_id,
        "account_id": event.account_id,
        "envelope_id": event.envelope_id,
    }
    changed = event.changed  # computed once: it looks at every timestamp the event carries
    writes = [
        _envelope_write(event, identity, archive_key, documents, changed, refreshed=refreshed, source=source)
    ]
    writes.extend(_recipient_writes(event, tenant_id, changed))
    return writes


def _envelope_write(
    event: ConnectEvent,
    identity: Mapping[str, str],
    archive_key: str,
    documents: Mapping[str, AttributeValue] | None,
    changed: str,
    *,
    refreshed: bool,
    source: ChangeSource,
) -> ItemWrite:
    envelope = event.envelope
    # A snapshot's own status decides; one DocuSign never sends orders nothing, whatever
    # the event is called. Only a minimal message is read by its event name.
    status = envelope.status if event.snapshot else ENVELOPE_EVENT_STATUS.get(event.event)
    fill: dict[str, AttributeValue] = {**identity, **envelope.timestamps}
    if envelope.deal_id:
        fill["deal_id"] = envelope.deal_id
    if envelope.reported_status:
        fill["reported_status"] = envelope.reported_status
    if documents:
        fill["connect_documents"] = dict(documents)
    always: dict[str, AttributeValue] = {}
    if not event.snapshot:
        always["needs_refresh"] = True
    elif refreshed:
        always["needs_refresh"] = False
    if status is None:
        # A minimal recipient event, or an unknown status, says nothing about the envelope's
        # progress: make sure it exists (and, for a minimal one, ask for a refresh), order nothing.
        return ItemWrite("envelope", "", None, fill=fill, always=always)
    if not event.snapshot:
        stamp = _STATUS_TIMESTAMP.get(status)
        if stamp:
            fill.setdefault(stamp, event.generated)
    ordered: dict[str, AttributeValue] = _present(
        {
            "status": status,
            "status_changed_at": envelope.timestamps.get("status_changed_at", event.generated),
            "generated": event.generated,
            "changed_at": changed,
            "last_event": event.event,
            "last_source": source,
            "archive_key": archive_key,
            "subject": envelope.subject,
            "sender_name": envelope.sender_name,
            "sender_email": envelope.sender_email,
            "voided_reason": envelope.voided_reason,
            "in_flight": status not in ENVELOPE_TERMINAL,
            "documents": [
                {"document_id": d.document_id, "name": d.name, "kind": d.kind} for d in envelope.documents
            ]
            or None,
        }
    )
    # What brought the news is not news: the same message replayed, or read again, keys the same.
    content = {name: value for name, value in {**ordered, **fill, **always}.items() if name != "last_source"}
    key = order_key(changed, envelope_rank(status), event.generated, content)
    return ItemWrite("envelope", "", key, ordered=ordered, fill=fill, always=always)


def _recipient_writes(event: ConnectEvent, tenant_id: str, changed: str) -> Iterable[ItemWrite]:
    recipients: tuple[RecipientState, ...] = event.recipients
    for recipient in recipients:
        status = recipient.status
        fill: dict[str, AttributeValue] = {
            "tenant_id": tenant_id,
            "envelope_id": event.envelope_id,
            "recipient_id": recipient.recipient_id,
            **recipient.timestamps,
        }
        if recipient.reported_status:
            fill["reported_status"] = recipient.reported_status
        if status is None and not event.snapshot:
            status = RECIPIENT_EVENT_STATUS.get(event.event)
            stamp = _RECIPIENT_STATUS_TIMESTAMP.get(status) if status else None
            if stamp:
                fill.setdefault(stamp, event.generated)
        if status is None:
            yield ItemWrite("recipient", recipient.recipient_id, None, fill=fill)
            continue
        ordered = _present(
            {
                "status": status,
                "generated": event.generated,
                "last_event": event.event,
                "recipient_type": recipient.recipient_type,
                "routing_order": recipient.routing_order,
                "name": recipient.name,
                "email": recipient.email,
                "recipient_id_guid": recipient.recipient_id_guid,
                "decline_reason": recipient.decline_reason,
            }
        )
        key = order_key(changed, recipient_rank(status), event.generated, {**ordered, **fill})
        yield ItemWrite("recipient", recipient.recipient_id, key, ordered=ordered, fill=fill)


def apply_in_memory(
    item: dict[str, AttributeValue] | None, write: ItemWrite
) -> tuple[dict[str, AttributeValue], bool]:
    """The reference semantics of one write, as the store implements them in DynamoDB.

    Returns the new item and whether the write was fresh (its ordered part applied);
    an unordered write is never fresh.
    """
    current = dict(item or {})
    stored = current.get("order")
    fresh = write.order is not None and (not isinstance(stored, str) or stored < write.order)
    if fresh:
        current.update(write.ordered)
        current.update(write.fill)
        current["order"] = write.order  # type: ignore[assignment]
    else:
        for name, value in write.fill.items():
            current.setdefault(name, value)
    current.update(write.always)
    return current, fresh
