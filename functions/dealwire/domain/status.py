"""Envelope and recipient statuses, their rank, and what a Connect event name implies."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EnvelopeStatus(StrEnum):
    """An envelope's status as the REST API and JSON Connect write it (lower-case)."""

    CREATED = "created"
    CORRECT = "correct"
    SENT = "sent"
    DELIVERED = "delivered"
    SIGNED = "signed"
    COMPLETED = "completed"
    DECLINED = "declined"
    VOIDED = "voided"
    DELETED = "deleted"


class RecipientStatus(StrEnum):
    CREATED = "created"
    SENT = "sent"
    AUTORESPONDED = "autoresponded"
    FAXPENDING = "faxpending"
    DELIVERED = "delivered"
    SIGNED = "signed"
    COMPLETED = "completed"
    DECLINED = "declined"


# Rank breaks ties between two events stamped with the same generatedDateTime: the
# later stage of the signing process wins. The legacy XML capitalises statuses.
ENVELOPE_RANK: Final[dict[EnvelopeStatus, int]] = {
    EnvelopeStatus.CREATED: 10,
    EnvelopeStatus.CORRECT: 15,
    EnvelopeStatus.SENT: 20,
    EnvelopeStatus.DELIVERED: 30,
    EnvelopeStatus.SIGNED: 40,
    EnvelopeStatus.COMPLETED: 50,
    EnvelopeStatus.DECLINED: 50,
    EnvelopeStatus.VOIDED: 60,
    EnvelopeStatus.DELETED: 70,
}
RECIPIENT_RANK: Final[dict[RecipientStatus, int]] = {
    RecipientStatus.CREATED: 10,
    RecipientStatus.SENT: 20,
    RecipientStatus.AUTORESPONDED: 25,
    RecipientStatus.FAXPENDING: 25,
    RecipientStatus.DELIVERED: 30,
    RecipientStatus.SIGNED: 40,
    RecipientStatus.COMPLETED: 50,
    RecipientStatus.DECLINED: 50,
}

ENVELOPE_TERMINAL: Final = frozenset(
    {EnvelopeStatus.COMPLETED, EnvelopeStatus.DECLINED, EnvelopeStatus.VOIDED, EnvelopeStatus.DELETED}
)

# Minimal Connect messages ("include envelope data" off) carry only the event name.
ENVELOPE_EVENT_STATUS: Final[dict[str, EnvelopeStatus]] = {
    "envelope-created": EnvelopeStatus.CREATED,
    "envelope-sent": EnvelopeStatus.SENT,
    "envelope-resent": EnvelopeStatus.SENT,
    "envelope-delivered": EnvelopeStatus.DELIVERED,
    "envelope-completed": EnvelopeStatus.COMPLETED,
    "envelope-declined": EnvelopeStatus.DECLINED,
    "envelope-voided": EnvelopeStatus.VOIDED,
    "envelope-deleted": EnvelopeStatus.DELETED,
}
RECIPIENT_EVENT_STATUS: Final[dict[str, RecipientStatus]] = {
    "recipient-sent": RecipientStatus.SENT,
    "recipient-resent": RecipientStatus.SENT,
    "recipient-autoresponded": RecipientStatus.AUTORESPONDED,
    "recipient-delivered": RecipientStatus.DELIVERED,
    "recipient-completed": RecipientStatus.COMPLETED,
    "recipient-declined": RecipientStatus.DECLINED,
}

# The recipient types whose action counts towards "signed / total signers".
SIGNING_TYPES: Final = frozenset({"signer", "inpersonsigner", "witness", "notary"})
SIGNED_STATUSES: Final = frozenset({RecipientStatus.SIGNED, RecipientStatus.COMPLETED})


def _folded(value: str) -> str:
    return value.strip().lower()


def envelope_status(value: str) -> EnvelopeStatus | None:
    """``"Completed"`` / ``"completed"`` as an ``EnvelopeStatus``; None for a value DocuSign never sends."""
    try:
        return EnvelopeStatus(_folded(value))
    except ValueError:
        return None


def recipient_status(value: str) -> RecipientStatus | None:
    """``" AutoResponded "`` as a ``RecipientStatus``; None for a value DocuSign never sends."""
    try:
        return RecipientStatus(_folded(value))
    except ValueError:
        return None


_KNOWN_TYPES: Final = frozenset(
    {
        "signer",
        "agent",
        "editor",
        "intermediary",
        "carboncopy",
        "certifieddelivery",
        "inpersonsigner",
        "witness",
        "notary",
        "seal",
        "signergroup",
        "participant",
    }
)
_PLURAL_TYPES: Final = {"carboncopies": "carboncopy", "certifieddeliveries": "certifieddelivery"}
MAX_TYPE_LENGTH: Final = 40


def normalise_recipient_type(value: str) -> str:
    """``"CarbonCopy"`` (XML), ``"carboncopy"`` (JSON) and ``"carbonCopies"`` alike."""
    kind = value.strip().lower().replace("_", "").replace(" ", "")
    if kind in _PLURAL_TYPES:
        return _PLURAL_TYPES[kind]
    if kind.endswith("s") and kind[:-1] in _KNOWN_TYPES:
        return kind[:-1]
    return kind[:MAX_TYPE_LENGTH]


def envelope_rank(status: EnvelopeStatus | None) -> int:
    return ENVELOPE_RANK.get(status, 0) if status is not None else 0


def recipient_rank(status: RecipientStatus | None) -> int:
    return RECIPIENT_RANK.get(status, 0) if status is not None else 0
