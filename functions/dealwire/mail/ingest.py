"""Smart BCC: one delivery from SES becomes a stored, threaded, linked message, or a refusal.

The raw message is already in the mail bucket (SES's S3 action ran first); nothing here
deletes it. The path reads one way for each tenant the delivery names: decide
(``mail.filing``: who sent it, what it is), link (one read for the thread and whether it
is stored already, one for its contacts, one for their open deals), store (the parts,
then one transaction). A refusal tags the object with its reason and, for a sender the
account may know, records a rejection that the stream publishes as ``mail.rejected``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dealwire.contracts.ses import delivery_from_stamp
from dealwire.domain.ids import is_tenant_id
from dealwire.domain.linking import Contacts, dropped_by_scan, link
from dealwire.mail.filing import Refusal, decide, sender_rules
from dealwire.mail.limits import LimitExceeded, MailLimits
from dealwire.mail.message import MailUnreadable, ParsedMail, part_chunks, read_mail, safe_filename
from dealwire.store.archive import PACK_BYTES, PACKED_PART_BYTES, mail_parts_prefix, pack_key
from dealwire.store.mail import Duplicate, NewMessage, ThreadChanged

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dealwire.contracts.ses import Delivery
    from dealwire.domain.linking import ThreadLink
    from dealwire.mail.filing import Filing
    from dealwire.store.archive import Archive
    from dealwire.store.crm import CrmProjection
    from dealwire.store.mail import MailStore, ThreadState
    from dealwire.store.tenants import TenantConfig, TenantDirectory

_Tenant = tuple[str, "TenantConfig"]
MAX_LINK_ATTEMPTS = 3
# Smaller reads keep the parser's transient copies small beside a 1 MB message (make bench).
READ_CHUNK = 256 * 1024
OutcomeStatus = Literal["stored", "duplicate", "rejected", "dropped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a delivery for one tenant (or for none: ``tenant_id`` None)."""

    status: OutcomeStatus
    tenant_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    thread_id: str | None = None
    message_key: str | None = None
    link_state: str | None = None


@dataclass(frozen=True, slots=True)
class _Linked:
    thread_id: str
    current: ThreadState | None
    link: ThreadLink


class MailIngest:
    def __init__(
        self,
        *,
        mail: MailStore,
        crm: CrmProjection,
        archive: Archive,
        tenants: TenantDirectory,
        mail_domain: str,
        limits: MailLimits,
    ) -> None:
        self._mail = mail
        self._crm = crm
        self._archive = archive
        self._tenants = tenants
        self._domain = mail_domain.lower()
        self._limits = limits

    def tenant_of(self, recipient: str) -> str | None:
        """``<tenant>[+anything]@<mail domain>`` names a tenant; nothing else does."""
        local, _, domain = recipient.lower().rpartition("@")
        if domain != self._domain:
            return None
        tenant = local.split("+", 1)[0]
        return tenant if is_tenant_id(tenant) else None

    def ingest(
        self, key: str, delivery: Delivery | None, *, ses_message_id: str, received_at: str
    ) -> list[Outcome]:
        """File the message stored at ``key``. ``delivery`` None: read SES's stamp in the message.

        A failure to read the object (S3 unavailable, throttled) is raised, so the delivery
        is retried; only what the message itself is refused for becomes an outcome.
        """
        tenants: list[_Tenant] = []
        if delivery is not None:
            tenants = self._resolve(delivery.recipients)
            if (screened := self._screen(key, delivery, tenants)) is not None:
                return [screened]
        try:
            parsed = read_mail(self._archive.read_stream(key, READ_CHUNK), self._limits)
        except (LimitExceeded, MailUnreadable) as exc:
            if delivery is None:
                return [self._refuse(key, exc.reason, str(exc))]
            return [self._refuse(key, exc.reason, str(exc), tenant=t, delivery=delivery) for t in tenants]
        if delivery is None:
            delivery = delivery_from_stamp(parsed.root, ses_message_id, received_at)
            if delivery is None:
                return [self._refuse(key, "no_receipt", "the object carries no SES receipt stamp")]
            tenants = self._resolve(delivery.recipients)
            if (screened := self._screen(key, delivery, tenants)) is not None:
                return [screened]
        return [self._file(key, tenant, parsed, delivery) for tenant in tenants]

    def _screen(self, key: str, delivery: Delivery, tenants: list[_Tenant]) -> Outcome | None:
        """Refuse before reading the message: no tenant among the recipients, or SES's scan failed."""
        if not tenants:
            return self._refuse(key, "no_tenant", "no recipient is a Smart BCC address of a tenant")
        scanned = dropped_by_scan(delivery.verdicts)
        if scanned:
            names = ",".join(tenant_id for tenant_id, _ in tenants)
            return self._refuse(key, scanned, f"SES {scanned} scan failed", drop=True, names=names)
        return None

    def _resolve(self, recipients: tuple[str, ...] | list[str]) -> list[_Tenant]:
        found: dict[str, TenantConfig] = {}
        for recipient in recipients:
            tenant = self.tenant_of(recipient)
            if tenant and tenant not in found:
                config = self._tenants.get(tenant)
                if config is not None:
                    found[tenant] = config
        return list(found.items())

    def _refuse(
        self,
        key: str,
        reason: str,
        detail: str,
        *,
        tenant: _Tenant | None = None,
        delivery: Delivery | None = None,
        sender: str | None = None,
        drop: bool = False,
        names: str | None = None,
    ) -> Outcome:
        """Tag the stored object with the reason; record it for ``mail.rejected`` when the tenant wants.

        The tag is bookkeeping: an object that is not there (a hand-made event, a rule
        writing elsewhere) is no reason for the refusal itself to fail.
        """
        self._archive.tag_if_present(
            key, {"dealwire-outcome": "dropped" if drop else "rejected", "dealwire-reason": reason}
        )
        if tenant is not None and delivery is not None and not drop and tenant[1].mail.notify_rejections:
            self._mail.record_rejection(
                tenant[0],
                {"reason": reason, "detail": detail[:500], "sender": sender, "raw_key": key},
                delivery.received_at,
                delivery.ses_message_id,
            )
        return Outcome(
            status="dropped" if drop else "rejected",
            tenant_id=names or (tenant[0] if tenant else None),
            reason=reason,
            detail=detail,
        )

    def _file(self, key: str, known: _Tenant, parsed: ParsedMail, delivery: Delivery) -> Outcome:
        tenant, config = known
        decision = decide(
            tenant_id=tenant,
            raw_key=key,
            parsed=parsed,
            delivery=delivery,
            users=self._crm.users(tenant),
            rules=sender_rules(config.mail.ignore_plus_tags, config.mail.dot_insensitive_domains),
            mail_domain=self._domain,
        )
        if isinstance(decision, Refusal):
            return self._refuse(
                key, decision.reason, decision.detail, tenant=known, delivery=delivery, sender=decision.sender
            )
        parts: list[dict[str, Any]] | None = None
        for _ in range(MAX_LINK_ATTEMPTS):
            linked = self._link(decision)
            if linked is None:
                return Outcome("duplicate", tenant, message_key=decision.message_key)
            if parts is None:
                # After the thread is known and the message is new: a duplicate uploads nothing.
                parts = store_parts(self._archive, tenant, decision.message_key, parsed)
            message = NewMessage(
                tenant_id=tenant,
                thread_id=linked.thread_id,
                message_key=decision.message_key,
                sent_at=decision.sent_at,
                item=decision.item(parts),
                subject=decision.subject,
                participants=decision.participants,
                subject_key=decision.subject_key,
            )
            try:
                self._mail.store_message(message, linked.link, linked.current)
            except Duplicate:
                return Outcome(
                    "duplicate", tenant, message_key=decision.message_key, thread_id=linked.thread_id
                )
            except ThreadChanged:
                continue
            return Outcome(
                "stored",
                tenant,
                thread_id=linked.thread_id,
                message_key=decision.message_key,
                link_state=linked.link.state,
            )
        raise ThreadChanged(f"thread of {decision.message_key} kept changing; the delivery is retried")

    def _link(self, filing: Filing) -> _Linked | None:
        """The message's thread and what it links to; None when the message is stored already."""
        tenant = filing.tenant_id
        found = self._mail.lookup(tenant, filing.message_key, filing.reference_keys, filing.subject_key)
        if found.stored:
            return None
        thread_id = found.thread_id or filing.message_key
        current = self._mail.thread(tenant, thread_id)
        contacts = self._crm.contacts(tenant, filing.participants)
        people = [*(current.link.contact_ids if current else ()), *contacts.values()]
        decided = link(
            current.link if current else None, Contacts(contacts, self._crm.open_deals(tenant, people))
        )
        return _Linked(thread_id, current, decided)


class _Pack:
    """The message's small parts, end to end, stored as ``pack-<n>`` objects."""

    def __init__(self, archive: Archive, tenant_id: str, message_key: str) -> None:
        self._archive = archive
        self._tenant_id = tenant_id
        self._message_key = message_key
        self._number = 0
        self._buffer = io.BytesIO()
        self._parts = 0

    @property
    def key(self) -> str:
        return pack_key(self._tenant_id, self._message_key, self._number)

    def add(self, data: bytes) -> tuple[str, int]:
        """Where ``data`` will be: the pack's key and its offset there."""
        if self._parts and self._buffer.tell() + len(data) > PACK_BYTES:
            self.store()
            self._number += 1
        offset = self._buffer.tell()
        self._buffer.write(data)
        self._parts += 1
        return self.key, offset

    def store(self) -> None:
        if self._parts:
            # BytesIO.getvalue() hands over the buffer itself, not a copy as large again.
            body = self._buffer.getvalue()
            self._buffer = io.BytesIO()
            self._archive.put(self.key, body, "application/octet-stream", {"packed-parts": str(self._parts)})
        self._parts = 0


def _small(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    """The part's first bytes, and whether that is all of it (no more than PACKED_PART_BYTES)."""
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) > PACKED_PART_BYTES:
            return bytes(head), False
    return bytes(head), True


def store_parts(archive: Archive, tenant: str, message_key: str, parsed: ParsedMail) -> list[dict[str, Any]]:
    """Every leaf part to S3: small ones packed together, large ones streamed to their own
    object. Returns their records for the message item; a packed part's record has the
    pack's ``key``, its ``offset`` there and ``packed`` true."""
    prefix = mail_parts_prefix(tenant, message_key)
    pack = _Pack(archive, tenant, message_key)
    records: list[dict[str, Any]] = []
    for part in parsed.parts:
        chunks = part_chunks(part)
        head, whole = _small(chunks)
        placed: dict[str, Any]
        if whole:
            key, offset = pack.add(head)
            digest = hashlib.sha256(head).hexdigest()
            placed = {"key": key, "offset": offset, "size": len(head), "sha256": digest, "packed": True}
        else:
            name = safe_filename(part.filename, part.role if part.role in {"text", "html"} else "part")
            stored = archive.put_stream(
                f"{prefix}{part.index:03d}-{name}",
                itertools.chain((head,), chunks),
                part.content_type,
                {"role": part.role, "filename": urllib.parse.quote(part.filename or "", safe=" ")},
            )
            placed = {"key": stored.key, "size": stored.size, "sha256": stored.sha256}
        records.append(
            {
                "index": part.index,
                "role": part.role,
                **placed,
                "content_type": part.content_type,
                "filename": part.filename,
                "content_id": part.content_id,
                "in_attached_message": part.in_attached_message,
            }
        )
    pack.store()
    return records
