"""What a parsed delivery becomes for one tenant, decided before anything is stored.

Pure: given the parsed message, what SES said, and the account's users, either a
``Refusal`` with its reason or a ``Filing`` that says under which identity the message is
kept, who took part, what it references and how its record reads. Linking it to a
thread and a deal, and storing it, come after (``mail.ingest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dealwire.domain import thread_keys
from dealwire.domain.linking import SenderRules, find_user, trusted_sender
from dealwire.mail import headers as header_values
from dealwire.mail.forwards import find_forward
from dealwire.mail.message import body_text

if TYPE_CHECKING:
    from dealwire.contracts.ses import Delivery
    from dealwire.domain.linking import User
    from dealwire.mail.headers import Address
    from dealwire.mail.message import MailHeaders, ParsedMail

SNIPPET_CHARS = 280
RefusalReason = Literal["no_sender", "ambiguous_sender", "sender_not_allowed", "sender_not_trusted"]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    detail: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Original:
    """The participants that matter: the forwarded message's, or the message's own."""

    kind: Literal["bcc", "forward"]
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    subject: str | None
    date: str | None
    date_text: str | None
    headers: MailHeaders | None  # a message/rfc822 original's full headers


@dataclass(frozen=True, slots=True)
class Filing:
    """A message the account keeps: its identity, its thread keys and its record (parts aside)."""

    tenant_id: str
    user: User
    message_key: str
    original: Original
    participants: list[str]
    subject: str | None
    sent_at: str
    reference_keys: list[str]
    subject_key: str | None
    record: dict[str, Any]

    def item(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """The message item's attributes, with the records of its stored parts."""
        return {**self.record, "parts": parts}


def sender_rules(ignore_plus_tags: bool, dot_insensitive_domains: tuple[str, ...]) -> SenderRules:
    return SenderRules(
        ignore_plus_tags=ignore_plus_tags,
        dot_insensitive_domains=frozenset(d.lower() for d in dot_insensitive_domains),
    )


def decide(
    *,
    tenant_id: str,
    raw_key: str,
    parsed: ParsedMail,
    delivery: Delivery,
    users: list[User],
    rules: SenderRules,
    mail_domain: str,
) -> Filing | Refusal:
    """Who may file it, what it is (a Bcc or a forward), and the record it becomes."""
    sender = parsed.headers.from_[0].email if parsed.headers.from_ else None
    if sender is None:
        return Refusal("no_sender", "the message has no readable From address")
    if len(parsed.headers.from_) > 1:
        # RFC 5322 allows several authors; which one sent it is then anyone's guess, and a
        # user's address beside a stranger's must not make the stranger's mail theirs.
        named = ", ".join(a.email for a in parsed.headers.from_)
        return Refusal(
            "ambiguous_sender", f"the From names {len(parsed.headers.from_)} addresses ({named})", sender
        )
    user = find_user(users, sender, rules)
    if user is None:
        return Refusal("sender_not_allowed", f"{sender} is not a user of the account", sender)
    trusted, why = trusted_sender(delivery.verdicts)
    if not trusted:
        return Refusal("sender_not_trusted", why, sender)

    # Sent to no one outside the account: a forward, whose original's participants count.
    forwarded = not _has_external(parsed.headers, users, rules, mail_domain)
    attached = _attached_original(parsed) if forwarded else None
    text = body_text(parsed)
    text_forward = _text_original(parsed, text) if forwarded and attached is None else None
    original = attached or text_forward or _as_sent(parsed)
    participants = _participants(original, users, rules, mail_domain)
    refs = original.headers or parsed.headers
    sent_at = original.date or parsed.headers.date or _iso(delivery.received_at)
    subject = original.subject if original.kind == "forward" else parsed.headers.subject
    message_key = thread_keys.message_key(tenant_id, _identity(parsed, attached), parsed.sha256)
    record = {
        "tenant_id": tenant_id,
        "message_key": message_key,
        "message_id": (original.headers.message_id if original.headers else None)
        or parsed.headers.message_id,
        "ses_message_id": delivery.ses_message_id,
        "raw_key": raw_key,
        "kind": original.kind,
        "from": [_address(a) for a in original.from_],
        "to": [_address(a) for a in original.to],
        "cc": [_address(a) for a in original.cc],
        "filed_by": _address(parsed.headers.from_[0]),
        "subject": subject,
        "sent_at": sent_at,
        "original_date": original.date_text,
        "received_at": _iso(delivery.received_at),
        "owner_user_id": user.user_id,
        "sharing": user.sharing,
        "snippet": header_values.clean(text, SNIPPET_CHARS) if text else "",
        "verdicts": dict(delivery.verdicts),
        "size": parsed.size,
        "sha256": parsed.sha256,
        "defects": parsed.defects,
    }
    return Filing(
        tenant_id=tenant_id,
        user=user,
        message_key=message_key,
        original=original,
        participants=participants,
        subject=subject,
        sent_at=sent_at,
        reference_keys=thread_keys.reference_keys(tenant_id, refs.in_reply_to, refs.references),
        subject_key=thread_keys.subject_key(tenant_id, subject, participants),
        record=record,
    )


def _is_own(address: str, users: list[User], rules: SenderRules, mail_domain: str) -> bool:
    if address.rpartition("@")[2] == mail_domain:
        return True
    wanted = rules.normalize(address)
    return any(rules.normalize(email) == wanted for user in users for email in user.emails)


def _has_external(found: MailHeaders, users: list[User], rules: SenderRules, mail_domain: str) -> bool:
    return any(not _is_own(a.email, users, rules, mail_domain) for a in [*found.to, *found.cc])


def _as_sent(parsed: ParsedMail) -> Original:
    own = parsed.headers
    return Original("bcc", own.from_, own.to, own.cc, own.subject, None, None, None)


def _attached_original(parsed: ParsedMail) -> Original | None:
    """The first attached message/rfc822 with a sender (Outlook's "forward as attachment")."""
    if not parsed.attached or not parsed.attached[0].from_:
        return None
    inner = parsed.attached[0]
    return Original("forward", inner.from_, inner.to, inner.cc, inner.subject, inner.date, None, inner)


def _text_original(parsed: ParsedMail, text: str) -> Original | None:
    """The original's header block in the forward's text body, if there is one."""
    block = find_forward(text) if text else None
    if block is None or not block.from_:
        return None

    def parse(value: str | None) -> list[Address]:
        # Outlook separates a forward block's addresses with ";", which RFC 5322 lists never do.
        return header_values.parse_addresses([value.replace(";", ",")]) if value else []

    return Original(
        kind="forward",
        from_=parse(block.from_),
        to=parse(block.to),
        cc=parse(block.cc),
        subject=header_values.clean(block.subject) if block.subject else parsed.headers.subject,
        date=None,
        date_text=header_values.clean(block.date, 100) if block.date else None,
        headers=None,
    )


def _identity(parsed: ParsedMail, attached: Original | None) -> str | None:
    """What the message is stored under: an attached original's Message-ID, else its own."""
    if attached is not None and attached.headers is not None and attached.headers.message_id:
        return attached.headers.message_id
    return parsed.headers.message_id


def _participants(original: Original, users: list[User], rules: SenderRules, mail_domain: str) -> list[str]:
    everyone = [a.email for a in [*original.from_, *original.to, *original.cc]]
    return [a for a in dict.fromkeys(everyone) if not _is_own(a, users, rules, mail_domain)]


def _address(address: Address) -> dict[str, str]:
    return {"email": address.email, "name": address.name}


def _iso(timestamp: str) -> str:
    """SES's ``2026-11-25T10:00:00.123Z`` to whole seconds, the form message dates take."""
    return timestamp[:19] + "Z" if len(timestamp) >= 19 else timestamp
