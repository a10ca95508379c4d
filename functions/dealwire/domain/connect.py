"""A DocuSign Connect message reduced to what dealwire records, whatever its wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# "api": the envelope as the REST API returned it (a refresh), shaped like "aggregate".
ConnectFormat = Literal["sim", "aggregate", "xml", "api"]

# The envelope custom field that ties an envelope to a CRM deal; stage_trigger sets it.
DEAL_ID_FIELD = "dealwire_deal_id"


@dataclass(frozen=True, slots=True)
class RecipientState:
    """One recipient as a Connect message reports it. Timestamps are canonical UTC strings."""

    recipient_id: str
    status: str | None
    recipient_type: str | None = None
    routing_order: int | None = None
    name: str | None = None
    email: str | None = None
    recipient_id_guid: str | None = None
    decline_reason: str | None = None
    timestamps: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EnvelopeState:
    """The envelope's own fields; ``None`` where the message does not carry them."""

    status: str | None
    subject: str | None = None
    sender_name: str | None = None
    sender_email: str | None = None
    deal_id: str | None = None
    voided_reason: str | None = None
    timestamps: dict[str, str] = field(default_factory=dict)


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

    ``snapshot`` is true when the message carries the envelope's whole state (its status
    and every recipient); a minimal SIM message carries only the event name and ids, and
    the envelope must be refreshed from the API to learn the rest.
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
