"""Envelope and recipient statuses, their rank, and what a Connect event name implies."""

from __future__ import annotations

from typing import Final

# Rank breaks ties between two events stamped with the same generatedDateTime: the
# later stage of the signing process wins. Statuses are stored lower-case, as the
# REST API and JSON Connect write them; the legacy XML capitalises them.
ENVELOPE_RANK: Final[dict[str, int]] = {
    "created": 10,
    "correct": 15,
    "sent": 20,
    "delivered": 30,
    "signed": 40,
    "completed": 50,
    "declined": 50,
    "voided": 60,
    "deleted": 70,
}
RECIPIENT_RANK: Final[dict[str, int]] = {
    "created": 10,
    "sent": 20,
    "autoresponded": 25,
    "faxpending": 25,
    "delivered": 30,
    "signed": 40,
    "completed": 50,
    "declined": 50,
}
UNKNOWN_RANK: Final = 0

ENVELOPE_TERMINAL: Final = frozenset({"completed", "declined", "voided", "deleted"})

# Minimal Connect messages ("include envelope data" off) carry only the event name.
ENVELOPE_EVENT_STATUS: Final[dict[str, str]] = {
    "envelope-created": "created",
    "envelope-sent": "sent",
    "envelope-resent": "sent",
    "envelope-delivered": "delivered",
    "envelope-completed": "completed",
    "envelope-declined": "declined",
    "envelope-voided": "voided",
    "envelope-deleted": "deleted",
}
RECIPIENT_EVENT_STATUS: Final[dict[str, str]] = {
    "recipient-sent": "sent",
    "recipient-resent": "sent",
    "recipient-autoresponded": "autoresponded",
    "recipient-delivered": "delivered",
    "recipient-completed": "completed",
    "recipient-declined": "declined",
}

# The recipient types whose action counts towards "signed / total signers".
SIGNING_TYPES: Final = frozenset({"signer", "inpersonsigner", "witness", "notary"})
SIGNED_STATUSES: Final = frozenset({"signed", "completed"})


def normalise_status(value: str) -> str:
    """``"Completed"`` / ``"completed"`` / ``" AutoResponded "`` as stored: lower-case."""
    return value.strip().lower()


def normalise_recipient_type(value: str) -> str:
    """``"CarbonCopy"`` (XML), ``"carboncopy"`` (JSON) and ``"carbonCopies"`` alike."""
    kind = value.strip().lower().replace("_", "").replace(" ", "")
    plural = {"carboncopies": "carboncopy", "certifieddeliveries": "certifieddelivery"}
    if kind in plural:
        return plural[kind]
    if kind.endswith("s") and kind[:-1] in _KNOWN_TYPES:
        return kind[:-1]
    return kind


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


def envelope_rank(status: str | None) -> int:
    return ENVELOPE_RANK.get(status or "", UNKNOWN_RANK)


def recipient_rank(status: str | None) -> int:
    return RECIPIENT_RANK.get(status or "", UNKNOWN_RANK)
