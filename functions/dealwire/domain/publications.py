"""What a committed change to an item means for the world: bus events and queued jobs.

Derived from the table's stream (old and new image), never sent by the writer: a crash
between a write and a send would otherwise lose the event or send one for nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from dealwire.contracts.events import (
    AutomationEnvelopeSent,
    AutomationFailed,
    AutomationSkipped,
    EnvelopeCompleted,
    EnvelopeDocumentsStored,
    EnvelopeStatusChanged,
    FetchDocumentsJob,
    IntegrationKeyVerified,
    MailNeedsDealChoice,
    MailRejected,
    MailThreadLinked,
    RecipientStatusChanged,
    RefreshEnvelopeJob,
    StoredDocument,
)
from dealwire.domain.items import ItemKind

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Publication:
    detail_type: str
    detail: BaseModel


@dataclass(frozen=True, slots=True)
class Derived:
    events: list[Publication] = field(default_factory=list)
    jobs: list[BaseModel] = field(default_factory=list)


def _identity(kind: str, item: Mapping[str, Any]) -> str:
    seed = f"{kind}|{item.get('pk')}|{item.get('sk')}|{item.get('order', '')}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def derive(kind: ItemKind | None, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Derived:
    """The events and jobs one stream record of an item of ``kind`` implies (nothing for removals)."""
    if not new or kind not in _DERIVERS:
        return Derived()
    identity, derived_from = _DERIVERS[kind]
    # An image without its identity is not a recorded change (moto, for one, streams the
    # bare key of a transactional update before the item itself).
    if not all(new.get(name) for name in identity):
        return Derived()
    return derived_from(old or {}, new)


def _integration(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    """A rotation's new key is news once: when a callback first proves it."""
    rotation, before = new.get("rotation"), old.get("rotation")
    if not isinstance(rotation, dict) or not rotation.get("verified_at") or not rotation.get("new_key_id"):
        return Derived()
    if (
        isinstance(before, dict)
        and before.get("verified_at")
        and before.get("new_key_id") == rotation["new_key_id"]
    ):
        return Derived()
    seed = {"pk": new.get("pk"), "sk": new.get("sk"), "order": rotation["new_key_id"]}
    return Derived(
        events=[
            Publication(
                "integration.key_verified",
                IntegrationKeyVerified(
                    event_id=_identity("integration.key_verified", seed),
                    tenant_id=str(new["tenant_id"]),
                    key_id=str(rotation["new_key_id"]),
                    verified_at=str(rotation["verified_at"]),
                ),
            )
        ]
    )


def _thread(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    """A thread's link is news when its contacts, deal or state change; a choice is asked once per set."""
    derived = Derived()
    seed = {"pk": new.get("pk"), "sk": new.get("sk"), "order": new.get("version")}
    state = new.get("link_state", "unlinked")
    linked = (
        list(new.get("contact_ids") or []),
        new.get("deal_id"),
        state,
    )
    before = (list(old.get("contact_ids") or []), old.get("deal_id"), old.get("link_state", "unlinked"))
    if linked != before and state != "unlinked":
        derived.events.append(
            Publication(
                "mail.thread_linked",
                MailThreadLinked(
                    event_id=_identity("mail.thread_linked", seed),
                    tenant_id=new["tenant_id"],
                    thread_id=new["thread_id"],
                    subject=new.get("subject"),
                    link_state=state,
                    contact_ids=linked[0],
                    deal_id=new.get("deal_id"),
                    deal_chosen=bool(new.get("deal_chosen")),
                    message_count=int(new.get("message_count", 0)),
                    last_message_at=new.get("last_message_at"),
                ),
            )
        )
    candidates = list(new.get("candidates") or [])
    if state == "needs_deal_choice" and (
        old.get("link_state") != "needs_deal_choice" or candidates != list(old.get("candidates") or [])
    ):
        derived.events.append(
            Publication(
                "mail.needs_deal_choice",
                MailNeedsDealChoice(
                    event_id=_identity("mail.needs_deal_choice", seed),
                    tenant_id=new["tenant_id"],
                    thread_id=new["thread_id"],
                    subject=new.get("subject"),
                    contact_ids=linked[0],
                    candidate_deal_ids=candidates,
                ),
            )
        )
    return derived


def _rejection(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    if old:
        return Derived()  # a rejection is news when it is written, not when it changes
    return Derived(
        events=[
            Publication(
                "mail.rejected",
                MailRejected(
                    event_id=_identity("mail.rejected", new),
                    tenant_id=new["tenant_id"],
                    ses_message_id=str(new.get("ses_message_id", "")),
                    reason=str(new.get("reason", "")),
                    detail=str(new.get("detail", "")),
                    sender=new.get("sender"),
                    received_at=str(new.get("received_at", "")),
                ),
            )
        ]
    )


def _envelope(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    derived = Derived()
    status, previous = new.get("status"), old.get("status")
    common = {
        "tenant_id": new["tenant_id"],
        "account_id": new["account_id"],
        "envelope_id": new["envelope_id"],
    }
    if status and status != previous:
        derived.events.append(
            Publication(
                "envelope.status_changed",
                EnvelopeStatusChanged(
                    event_id=_identity("envelope.status_changed", new),
                    deal_id=new.get("deal_id"),
                    status=status,
                    previous_status=previous,
                    changed_at=new.get("status_changed_at") or new.get("generated", ""),
                    docusign_event=new.get("last_event"),
                    subject=new.get("subject"),
                    source=new.get("last_source"),
                    **common,
                ),
            )
        )
    if status == "completed" and previous != "completed":
        completed_at = new.get("completed_at") or new.get("status_changed_at") or new.get("generated", "")
        derived.events.append(
            Publication(
                "envelope.completed",
                EnvelopeCompleted(
                    event_id=_identity("envelope.completed", new),
                    deal_id=new.get("deal_id"),
                    completed_at=completed_at,
                    subject=new.get("subject"),
                    source=new.get("last_source"),
                    **common,
                ),
            )
        )
        documents = [
            StoredDocument(document_id=document_id, **fields)
            for document_id, fields in sorted((new.get("connect_documents") or {}).items())
        ]
        derived.jobs.append(
            FetchDocumentsJob(
                job_id=_identity("fetch_documents", {"pk": new.get("pk")}),
                completed_at=completed_at,
                connect_documents=documents,
                **common,
            )
        )
    if new.get("signed_documents") and not old.get("signed_documents"):
        stored = new["signed_documents"]
        derived.events.append(
            Publication(
                "envelope.documents_stored",
                EnvelopeDocumentsStored(
                    event_id=_identity("envelope.documents_stored", {"pk": new.get("pk")}),
                    deal_id=new.get("deal_id"),
                    outcome=str(new.get("documents_outcome", "stored")),
                    documents=[
                        StoredDocument(**{**fields, "document_id": name})
                        for name, fields in sorted(stored.items())
                    ],
                    **common,
                ),
            )
        )
    if new.get("needs_refresh") is True and old.get("needs_refresh") is not True:
        derived.jobs.append(
            RefreshEnvelopeJob(
                job_id=_identity("refresh_envelope", new),
                requested_at=new.get("generated"),
                **common,
            )
        )
    return derived


def _recipient(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    status, previous = new.get("status"), old.get("status")
    if not status or status == previous:
        return Derived()
    routing = new.get("routing_order")
    return Derived(
        events=[
            Publication(
                "envelope.recipient_status_changed",
                RecipientStatusChanged(
                    event_id=_identity("envelope.recipient_status_changed", new),
                    tenant_id=new["tenant_id"],
                    envelope_id=new["envelope_id"],
                    recipient_id=new["recipient_id"],
                    recipient_type=new.get("recipient_type"),
                    routing_order=int(routing) if routing is not None else None,
                    name=new.get("name"),
                    email=new.get("email"),
                    status=status,
                    previous_status=previous,
                    changed_at=new.get("generated", ""),
                    decline_reason=new.get("decline_reason"),
                ),
            )
        ]
    )


def _automation(old: Mapping[str, Any], new: Mapping[str, Any]) -> Derived:
    """A rule's signing process for a deal: news when a send's outcome lands, or a send is skipped."""
    events: list[Publication] = []
    raw = new.get("detail")
    detail: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    common = {
        "tenant_id": str(new["tenant_id"]),
        "deal_id": str(new["deal_id"]),
        "rule_id": str(new["rule_id"]),
        "document_type": str(detail.get("document_type", "")),
    }
    send = str(new.get("send_id", ""))
    state = new.get("state")
    changed = old.get("send_id") != send or old.get("state") != state
    seed = {"pk": new.get("pk"), "sk": new.get("sk")}
    if changed and state == "sent" and new.get("envelope_id"):
        events.append(
            Publication(
                "automation.envelope_sent",
                AutomationEnvelopeSent(
                    event_id=_identity("automation.envelope_sent", {**seed, "order": send}),
                    **common,
                    template_id=str(detail.get("template_id", "")),
                    send_id=send,
                    envelope_id=str(new["envelope_id"]),
                    sent_at=str(new.get("sent_at", "")),
                    draft=bool(detail.get("draft", False)),
                    warnings=[str(w) for w in new.get("warnings") or []],
                ),
            )
        )
    elif changed and state == "failed":
        events.append(
            Publication(
                "automation.failed",
                AutomationFailed(
                    event_id=_identity("automation.failed", {**seed, "order": send}),
                    **common,
                    send_id=send,
                    reason=str(new.get("reason", "")),
                    detail=str(new.get("reason_detail", "")),
                    failed_at=str(new.get("failed_at", "")),
                ),
            )
        )
    skipped = new.get("skipped_send")
    if skipped and skipped != old.get("skipped_send"):
        events.append(
            Publication(
                "automation.skipped",
                AutomationSkipped(
                    event_id=_identity("automation.skipped", {**seed, "order": skipped}),
                    **common,
                    send_id=str(skipped),
                    active_send_id=send,
                    active_envelope_id=new.get("envelope_id"),
                    skipped_at=str(new.get("skipped_at", "")),
                ),
            )
        )
    return Derived(events=events)


_Deriver = Callable[[Mapping[str, Any], Mapping[str, Any]], Derived]
# Per kind: the attributes a recorded image has, and what its change means.
_DERIVERS: Final[dict[ItemKind, tuple[tuple[str, ...], _Deriver]]] = {
    ItemKind.ENVELOPE: (("tenant_id", "account_id", "envelope_id"), _envelope),
    ItemKind.RECIPIENT: (("tenant_id", "envelope_id", "recipient_id"), _recipient),
    ItemKind.THREAD: (("tenant_id", "thread_id"), _thread),
    ItemKind.REJECTION: (("tenant_id",), _rejection),
    ItemKind.INTEGRATION: (("tenant_id",), _integration),
    ItemKind.AUTOMATION: (("tenant_id", "deal_id", "rule_id", "send_id"), _automation),
}
