"""A DocuSign envelope's news reduced to what dealwire records, whatever brought it.

A Connect message (any wire format), the envelope read back from the REST API, or a poll
all become one ``ConnectEvent``. Every text in it is bounded and clean before it gets
here (``bounded``): the archive keeps the message whole, the table keeps what fits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from dealwire.domain.status import EnvelopeStatus, RecipientStatus

# "api": the envelope as the REST API returned it (a refresh, a poll), shaped like "aggregate".
ConnectFormat = Literal["sim", "aggregate", "xml", "api"]
# What brought the news: a Connect message, a read after a minimal one, the status poller,
# or the operator's replay of the archive. Recorded on the envelope with the change.
ChangeSource = Literal["connect", "refresh", "poll", "replay"]

# The envelope custom field that ties an envelope to a CRM deal; stage_trigger sets it.
DEAL_ID_FIELD: Final = "dealwire_deal_id"

# What one stored text may hold. DocuSign's own limits are lower (a subject is at most
# 100 characters, a name 100), so a real message never loses a character to these; they
# keep a hostile or corrupted one from making an item past DynamoDB's 400 KB.
MAX_NAME: Final = 500
MAX_EMAIL: Final = 320
MAX_SUBJECT: Final = 500
MAX_REASON: Final = 2000
MAX_TOKEN: Final = 100

_LONE_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bounded(value: str | None, limit: int) -> str | None:
    """``value`` as it can be stored: no lone surrogates (JSON can carry them, UTF-8 cannot),
    no control characters, at most ``limit`` characters (the last one then an ellipsis)."""
    if value is None:
        return None
    text = _CONTROL.sub("", _LONE_SURROGATE.sub("\ufffd", value))
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


@dataclass(frozen=True, slots=True)
class RecipientState:
    """One recipient as a message reports it. Timestamps are canonical UTC strings.

    ``status`` is None when the message names none, or one DocuSign does not send:
    ``reported_status`` then keeps what it said.
    """

    recipient_id: str
    status: RecipientStatus | None
    recipient_type: str | None = None
    routing_order: int | None = None
    name: str | None = None
    email: str | None = None
    recipient_id_guid: str | None = None
    decline_reason: str | None = None
    reported_status: str | None = None
    timestamps: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One of the envelope's documents as a message lists it (no bytes): what can be downloaded."""

    document_id: str
    name: str
    kind: str  # content, summary (the certificate), ...


MAX_DOCUMENTS: Final = 200
# The envelope's expiry among its timestamps (not something that happened: a future date).
# Not "expires_at": that is the table's TTL attribute, and an envelope must never carry it.
EXPIRY: Final = "envelope_expires_at"


@dataclass(frozen=True, slots=True)
class EnvelopeState:
    """The envelope's own fields; ``None`` where the message does not carry them."""

    status: EnvelopeStatus | None
    subject: str | None = None
    sender_name: str | None = None
    sender_email: str | None = None
    deal_id: str | None = None
    voided_reason: str | None = None
    reported_status: str | None = None
    timestamps: dict[str, str] = field(default_factory=dict)
    documents: tuple[DocumentInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectDocument:
    """A document Connect delivered inside the message ("include documents")."""

    document_id: str
    name: str
    kind: str
    pdf_bytes: bytes


@dataclass(frozen=True, slots=True)
class ConnectEvent:
    """One Connect message, normalised.

    ``snapshot`` is true when the message carries the envelope's data (its status and
    every recipient); a minimal SIM message carries only the event name and ids, and the
    envelope must be refreshed from the API to learn the rest.
    """

    wire_format: ConnectFormat
    event: str
    account_id: str
    envelope_id: str
    generated: str
    snapshot: bool
    envelope: EnvelopeState
    recipients: tuple[RecipientState, ...] = ()
    documents: tuple[ConnectDocument, ...] = ()
    recipient_id: str | None = None
    retry_count: int | None = None
    configuration_id: str | None = None

    @property
    def changed(self) -> str:
        """When DocuSign says the envelope last changed, as far as this message tells: the
        latest moment it reports (the envelope's times, its recipients'), never later than the
        message itself. What orders it: a poll that read the same change, whose only clock is
        these times, then compares equal in time with the callback, in whichever order the two
        arrive. A minimal message reports no times: its own is all there is."""
        if not self.snapshot:
            return self.generated
        happened = [stamp for name, stamp in self.envelope.timestamps.items() if name != EXPIRY]
        for recipient in self.recipients:
            happened.extend(recipient.timestamps.values())
        latest = max(happened, default=self.generated)
        return min(latest, self.generated)
