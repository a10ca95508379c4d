"""Smart BCC: one delivery from SES becomes a stored, threaded, linked message, or a refusal.

The raw message is already in the mail bucket (SES's S3 action ran first); nothing here
deletes it. A refusal tags the object with its reason and, for a sender the account may
know, records a rejection that the stream publishes as ``mail.rejected``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dealwire.contracts.ses import receipt_from_stamp
from dealwire.domain import threading
from dealwire.domain.linking import (
    Contacts,
    SenderRules,
    dropped_by_scan,
    find_user,
    link,
    trusted_sender,
)
from dealwire.mail import headers as header_values
from dealwire.mail.forwards import find_forward
from dealwire.mail.limits import LimitExceeded, MailLimits
from dealwire.mail.message import (
    TEXT_PREFIX_BYTES,
    MailHeaders,
    MailPart,
    MailUnreadable,
    ParsedMail,
    decode_text,
    html_text,
    part_chunks,
    read_mail,
    safe_filename,
)
from dealwire.store.archive import safe_token
from dealwire.store.mail import Duplicate, NewMessage, ThreadChanged
from dealwire.store.tenants import TENANT_ID_PATTERN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dealwire.contracts.ses import Receipt
    from dealwire.domain.linking import User
    from dealwire.mail.headers import Address
    from dealwire.store.archive import Archive
    from dealwire.store.mail import MailStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

_TENANT = re.compile(TENANT_ID_PATTERN)
_Tenant = tuple[str, "TenantConfig"]
MAX_LINK_ATTEMPTS = 3
# Smaller reads keep the parser's transient copies small beside a 1 MB message (make bench).
READ_CHUNK = 256 * 1024
SNIPPET_CHARS = 280


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a delivery for one tenant (or for none: ``tenant_id`` None)."""

    status: str  # stored, duplicate, rejected, dropped
    tenant_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    thread_id: str | None = None
    message_key: str | None = None
    link_state: str | None = None


@dataclass(frozen=True, slots=True)
class _Original:
    """The participants that matter: the forwarded message's, or the message's own."""

    kind: str  # bcc, forward
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    subject: str | None
    date: str | None
    date_text: str | None
    headers: MailHeaders | None  # a message/rfc822 original's full headers


class MailIngest:
    def __init__(
        self,
        *,
        store: MailStore,
        archive: Archive,
        tenants: TenantDirectory,
        mail_domain: str,
        limits: MailLimits,
    ) -> None:
        self._store = store
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
        return tenant if _TENANT.match(tenant) else None

    def ingest(
        self, key: str, receipt: Receipt | None, *, ses_message_id: str, received_at: str
    ) -> list[Outcome]:
        """File the message stored at ``key``. ``receipt`` None: read SES's stamp in the message."""
        tenants: list[_Tenant] = []
        if receipt is not None:
            tenants = self._resolve(receipt.recipients)
            if (screened := self._screen(key, receipt, tenants)) is not None:
                return [screened]
        try:
            parsed = read_mail(self._archive.read_stream(key, READ_CHUNK), self._limits)
        except (LimitExceeded, MailUnreadable) as exc:
            if receipt is None:
                return [self._refuse(key, exc.reason, str(exc))]
            return [self._refuse(key, exc.reason, str(exc), tenant=t, receipt=receipt) for t in tenants]
        if receipt is None:
            receipt = receipt_from_stamp(parsed.root, ses_message_id, received_at)
            if receipt is None:
                return [self._refuse(key, "no_receipt", "the object carries no SES receipt stamp")]
            tenants = self._resolve(receipt.recipients)
            if (screened := self._screen(key, receipt, tenants)) is not None:
                return [screened]
        return [self._file(key, tenant, parsed, receipt) for tenant in tenants]

    def _screen(self, key: str, receipt: Receipt, tenants: list[_Tenant]) -> Outcome | None:
        """Refuse before reading the message: no tenant among the recipients, or SES's scan failed."""
        if not tenants:
            return self._refuse(key, "no_tenant", "no recipient is a Smart BCC address of a tenant")
        scanned = dropped_by_scan(receipt.verdicts)
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
        receipt: Receipt | None = None,
        sender: str | None = None,
        drop: bool = False,
        names: str | None = None,
    ) -> Outcome:
        """Tag the stored object with the reason; record it for ``mail.rejected`` when the tenant wants."""
        self._archive.tag(
            key, {"dealwire-outcome": "dropped" if drop else "rejected", "dealwire-reason": reason}
        )
        if tenant is not None and receipt is not None and not drop and tenant[1].mail.notify_rejections:
            self._store.record_rejection(
                tenant[0],
                {"reason": reason, "detail": detail[:500], "sender": sender, "raw_key": key},
                receipt.received_at,
                receipt.ses_message_id,
            )
        return Outcome(
            status="dropped" if drop else "rejected",
            tenant_id=names or (tenant[0] if tenant else None),
            reason=reason,
            detail=detail,
        )

    def _file(self, key: str, known: _Tenant, parsed: ParsedMail, receipt: Receipt) -> Outcome:
        tenant, config = known
        rules = SenderRules(
            ignore_plus_tags=config.mail.ignore_plus_tags,
            dot_insensitive_domains=frozenset(d.lower() for d in config.mail.dot_insensitive_domains),
        )
        sender = parsed.headers.from_[0].email if parsed.headers.from_ else None
        if sender is None:
            return self._refuse(
                key, "no_sender", "the message has no readable From address", tenant=known, receipt=receipt
            )
        users = self._store.users(tenant)
        user = find_user(users, sender, rules)
        if user is None:
            return self._refuse(
                key,
                "sender_not_allowed",
                f"{sender} is not a user of the account",
                tenant=known,
                receipt=receipt,
                sender=sender,
            )
        trusted, why = trusted_sender(receipt.verdicts)
        if not trusted:
            return self._refuse(key, "sender_not_trusted", why, tenant=known, receipt=receipt, sender=sender)

        # Sent to no one outside the account: a forward, whose original's participants count.
        forwarded = not _has_external(parsed.headers, users, rules, self._domain)
        attached = _attached_original(parsed) if forwarded else None
        message_key = threading.message_key(tenant, _identity(parsed, attached), parsed.sha256)
        parts, text = self._store_parts(tenant, message_key, parsed)
        text_forward = _text_original(parsed, text) if forwarded and attached is None else None
        original = attached or text_forward or _as_sent(parsed)
        participants = _participants(original, users, rules, self._domain)
        refs = original.headers or parsed.headers
        sent_at = original.date or parsed.headers.date or _iso(receipt.received_at)
        subject = original.subject if original.kind == "forward" else parsed.headers.subject
        item = {
            "tenant_id": tenant,
            "message_key": message_key,
            "message_id": (original.headers.message_id if original.headers else None)
            or parsed.headers.message_id,
            "ses_message_id": receipt.ses_message_id,
            "raw_key": key,
            "kind": original.kind,
            "from": [_address(a) for a in original.from_],
            "to": [_address(a) for a in original.to],
            "cc": [_address(a) for a in original.cc],
            "filed_by": _address(parsed.headers.from_[0]),
            "subject": subject,
            "sent_at": sent_at,
            "original_date": original.date_text,
            "received_at": _iso(receipt.received_at),
            "owner_user_id": user.user_id,
            "sharing": user.sharing,
            "parts": parts,
            "snippet": header_values.clean(text, SNIPPET_CHARS) if text else "",
            "verdicts": dict(receipt.verdicts),
            "size": parsed.size,
            "sha256": parsed.sha256,
            "defects": parsed.defects,
        }
        subject_key = threading.subject_key(tenant, subject, participants)
        references = threading.reference_keys(tenant, refs.in_reply_to, refs.references)
        for _ in range(MAX_LINK_ATTEMPTS):
            thread_id = self._store.find_thread(tenant, references, subject_key) or message_key
            current = self._store.thread(tenant, thread_id)
            contacts = self._store.contacts(tenant, participants)
            people = [*(current.link.contact_ids if current else ()), *contacts.values()]
            decided = link(
                current.link if current else None, Contacts(contacts, self._store.open_deals(tenant, people))
            )
            message = NewMessage(
                tenant_id=tenant,
                thread_id=thread_id,
                message_key=message_key,
                sent_at=sent_at,
                item=item,
                subject=subject,
                participants=participants,
                subject_key=subject_key,
            )
            try:
                self._store.store_message(message, decided, current)
            except Duplicate:
                return Outcome("duplicate", tenant, message_key=message_key, thread_id=thread_id)
            except ThreadChanged:
                continue
            return Outcome(
                "stored", tenant, thread_id=thread_id, message_key=message_key, link_state=decided.state
            )
        raise ThreadChanged(f"thread of {message_key} kept changing; the delivery is retried")

    def _store_parts(
        self, tenant: str, message_key: str, parsed: ParsedMail
    ) -> tuple[list[dict[str, Any]], str]:
        """Every leaf part to S3, streamed; returns their records and the text body's start."""
        records: list[dict[str, Any]] = []
        texts: dict[str, str] = {}
        for part in parsed.parts:
            prefix = bytearray()
            name = safe_filename(part.filename, part.role if part.role in {"text", "html"} else "part")
            key = f"mail/{safe_token(tenant)}/{message_key}/parts/{part.index:03d}-{name}"
            stored = self._archive.put_stream(
                key,
                _capturing(part_chunks(part), prefix if part.role in {"text", "html"} else None),
                part.content_type,
                {
                    "role": part.role,
                    "filename": urllib.parse.quote(part.filename or "", safe=" "),
                },
            )
            if part.role in {"text", "html"}:
                texts[part.role] = decode_text(bytes(prefix), part.charset)
            records.append(
                {
                    "index": part.index,
                    "role": part.role,
                    "key": stored.key,
                    "size": stored.size,
                    "sha256": stored.sha256,
                    "content_type": part.content_type,
                    "filename": part.filename,
                    "content_id": part.content_id,
                    "in_attached_message": part.in_attached_message,
                }
            )
        text = texts.get("text") or (html_text(texts["html"]) if "html" in texts else "")
        return records, text


def _capturing(chunks: Iterator[bytes], prefix: bytearray | None) -> Iterator[bytes]:
    for chunk in chunks:
        if prefix is not None and len(prefix) < TEXT_PREFIX_BYTES:
            prefix += chunk[: TEXT_PREFIX_BYTES - len(prefix)]
        yield chunk


def _is_own(address: str, users: list[User], rules: SenderRules, mail_domain: str) -> bool:
    if address.rpartition("@")[2] == mail_domain:
        return True
    wanted = rules.normalize(address)
    return any(rules.normalize(email) == wanted for user in users for email in user.emails)


def _has_external(found: MailHeaders, users: list[User], rules: SenderRules, mail_domain: str) -> bool:
    return any(not _is_own(a.email, users, rules, mail_domain) for a in [*found.to, *found.cc])


def _as_sent(parsed: ParsedMail) -> _Original:
    own = parsed.headers
    return _Original("bcc", own.from_, own.to, own.cc, own.subject, None, None, None)


def _attached_original(parsed: ParsedMail) -> _Original | None:
    """The first attached message/rfc822 with a sender (Outlook's "forward as attachment")."""
    if not parsed.attached or not parsed.attached[0].from_:
        return None
    inner = parsed.attached[0]
    return _Original("forward", inner.from_, inner.to, inner.cc, inner.subject, inner.date, None, inner)


def _text_original(parsed: ParsedMail, text: str) -> _Original | None:
    """The original's header block in the forward's text body, if there is one."""
    block = find_forward(text) if text else None
    if block is None or not block.from_:
        return None

    def parse(value: str | None) -> list[Address]:
        # Outlook separates a forward block's addresses with ";", which RFC 5322 lists never do.
        return header_values.parse_addresses([value.replace(";", ",")]) if value else []

    return _Original(
        kind="forward",
        from_=parse(block.from_),
        to=parse(block.to),
        cc=parse(block.cc),
        subject=header_values.clean(block.subject) if block.subject else parsed.headers.subject,
        date=None,
        date_text=header_values.clean(block.date, 100) if block.date else None,
        headers=None,
    )


def _identity(parsed: ParsedMail, attached: _Original | None) -> str | None:
    """What the message is stored under: an attached original's Message-ID, else its own."""
    if attached is not None and attached.headers is not None and attached.headers.message_id:
        return attached.headers.message_id
    return parsed.headers.message_id


def _participants(original: _Original, users: list[User], rules: SenderRules, mail_domain: str) -> list[str]:
    everyone = [a.email for a in [*original.from_, *original.to, *original.cc]]
    return [a for a in dict.fromkeys(everyone) if not _is_own(a, users, rules, mail_domain)]


def _address(address: Address) -> dict[str, str]:
    return {"email": address.email, "name": address.name}


def _iso(timestamp: str) -> str:
    """SES's ``2026-11-25T10:00:00.123Z`` to whole seconds, the form message dates take."""
    return timestamp[:19] + "Z" if len(timestamp) >= 19 else timestamp


__all__ = ["MailIngest", "MailPart", "Outcome"]
