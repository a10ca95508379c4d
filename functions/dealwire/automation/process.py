"""A deal's signing process (per rule or template): is one still out; an envelope made and recorded once.

Shared by the stage automation and the send by hand: both claim the process on the
deal's item, then create the envelope once (``create_once``) and record it as its
creation left it (``created_envelope_write``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from dealwire.domain.changes import ItemWrite, order_key
from dealwire.domain.status import ENVELOPE_TERMINAL, EnvelopeStatus, envelope_rank

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.docusign.envelopes import EnvelopeRequest, EnvelopeSender, SentEnvelope
    from dealwire.store.automation import AutomationStore
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.tenants import TenantConfig

# A claim that never got its envelope this long ago is a crashed attempt, not a running one.
STALE_CLAIM_SECONDS: Final = 15 * 60


class ProcessBusy(Exception):
    """Another delivery claimed the process moments ago and is creating its envelope now."""


@dataclass(frozen=True, slots=True)
class Active:
    """The process holding the claim is out for signature with this envelope."""

    envelope_id: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parsed(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def still_active(
    envelopes: EnvelopeStore,
    tenant_id: str,
    holder: dict[str, Any],
    find: Callable[[str, datetime], SentEnvelope | None],
) -> Active | None:
    """Whether the process ``holder`` describes still has an envelope out for signature.

    A failed send holds nothing; an envelope completed, declined or voided neither. A claim
    with no envelope yet is another delivery at work (``ProcessBusy``) unless it is older
    than ``STALE_CLAIM_SECONDS``: then it crashed, and it is active only if DocuSign made
    its envelope after all (``find``, by its send id).
    """
    if holder.get("state") == "failed":
        return None
    envelope_id = holder.get("envelope_id")
    if envelope_id:
        envelope = envelopes.envelope(tenant_id, str(envelope_id))
        terminal = envelope is not None and envelope.get("status") in ENVELOPE_TERMINAL
        return None if terminal else Active(str(envelope_id))
    claimed = parsed(str(holder.get("claimed_at") or now_iso()))
    if (datetime.now(UTC) - claimed).total_seconds() < STALE_CLAIM_SECONDS:
        raise ProcessBusy(f"send {holder.get('send_id')} began at {holder.get('claimed_at')}")
    found = find(str(holder["send_id"]), claimed)
    return Active(found.envelope_id) if found is not None and found.status not in ENVELOPE_TERMINAL else None


def created_envelope_write(
    *,
    tenant_id: str,
    account_id: str,
    envelope_id: str,
    status: str,
    at: str,
    deal_id: str,
    extra: dict[str, Any],
) -> ItemWrite:
    """The envelope as its creation left it, ordered like a Connect event at DocuSign's own
    time, so any callback for it that DocuSign generated later supersedes it."""
    state = EnvelopeStatus(status) if status in set(EnvelopeStatus) else EnvelopeStatus.SENT
    ordered: dict[str, Any] = {
        "status": state.value,
        "status_changed_at": at,
        "generated": at,
        "changed_at": at,
        "last_event": "api-created",
        "last_source": "send",
        "in_flight": state not in ENVELOPE_TERMINAL,
    }
    fill: dict[str, Any] = {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "envelope_id": envelope_id,
        "deal_id": deal_id,
        "created_at": at,
        ("sent_at" if state == EnvelopeStatus.SENT else "created_at"): at,
        **extra,
    }
    key = order_key(at, envelope_rank(state), at, {**ordered, **fill})
    return ItemWrite("envelope", "", key, ordered=ordered, fill=fill)


def create_once(sender: EnvelopeSender, request: EnvelopeRequest) -> SentEnvelope:
    """Create the envelope; when DocuSign's answer was lost, the one it made (by send id) if any.

    Nothing is created a second time here: a loss with no envelope found raises, and the
    caller's retry (EventBridge's, the CRM's) comes back through the claim, which looks
    again before it creates.
    """
    from dealwire.docusign.errors import DocuSignUnavailable  # noqa: PLC0415

    try:
        return sender.create(request)
    except DocuSignUnavailable as exc:
        if not exc.maybe_done:
            raise
        found = sender.find(request.send_id, datetime.now(UTC))
        if found is None:
            raise
        return found


def record_created(
    envelopes: EnvelopeStore,
    automation: AutomationStore,
    *,
    tenant: TenantConfig,
    deal_id: str,
    process: str,
    send: str,
    created: SentEnvelope,
    extra: dict[str, Any],
    warnings: tuple[str, ...] = (),
) -> None:
    """The envelope item as its creation left it (at DocuSign's time), then the process's
    outcome, from which the stream publishes it: in this order, so a crash between them is
    repaired by the retry that finds the envelope again."""
    from dealwire.domain.timestamps import canonical_timestamp  # noqa: PLC0415

    at = canonical_timestamp(created.status_date_time or now_iso())
    write = created_envelope_write(
        tenant_id=tenant.tenant_id,
        account_id=tenant.docusign_account_id,
        envelope_id=created.envelope_id,
        status=created.status,
        at=at,
        deal_id=deal_id,
        extra={"send_id": send, **extra},
    )
    envelopes.apply(tenant.tenant_id, created.envelope_id, [write])
    automation.record_sent(
        tenant.tenant_id,
        deal_id,
        process,
        send=send,
        envelope_id=created.envelope_id,
        at=at,
        warnings=list(warnings),
    )
