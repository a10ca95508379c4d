"""DocuSign Connect JSON messages: SIM ("Send Individual Messages") and aggregate.

Models accept what Connect sends and keep unknown fields (``extra="allow"``): DocuSign
adds fields without notice, and the raw message is archived whole anyway. Only the
fields dealwire records are typed; counts and ids arrive as strings ("1") or numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.contracts.errors import MalformedPayload, SchemaViolation
from dealwire.domain.envelope_event import (
    DEAL_ID_FIELD,
    EXPIRY,
    MAX_DOCUMENTS,
    MAX_EMAIL,
    MAX_NAME,
    MAX_REASON,
    MAX_SUBJECT,
    MAX_TOKEN,
    ConnectDocument,
    ConnectEvent,
    DocumentInfo,
    EnvelopeState,
    RecipientState,
    bounded,
)
from dealwire.domain.ids import is_crm_id, is_docusign_id
from dealwire.domain.status import envelope_status, normalise_recipient_type, recipient_status
from dealwire.domain.timestamps import TimestampError, canonical_timestamp

_Model = TypeVar("_Model", bound=BaseModel)


class _ConnectModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        coerce_numbers_to_str=True,
    )


# DocuSign's routing orders run from 1 to 999.
MAX_ROUTING_ORDER = 999


def parse_routing_order(value: object) -> int | None:
    """A routing order, or ``None`` for anything else: it only sorts the tracker, and a
    refused message would be retried by DocuSign for days and never recorded."""
    text = str(value).strip() if value is not None else ""
    # ASCII digits only: a superscript two passes str.isdigit() and fails int(), and
    # other scripts' digits pass both; DocuSign writes neither.
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ROUTING_ORDER)):
        return None
    number = int(text)
    return number if 0 <= number <= MAX_ROUTING_ORDER else None


class JsonRecipient(_ConnectModel):
    recipient_id: str = Field(min_length=1, max_length=100)
    recipient_id_guid: str | None = None
    recipient_type: str | None = None
    status: str | None = None
    name: str | None = None
    email: str | None = None
    routing_order: Annotated[int | None, BeforeValidator(parse_routing_order)] = None
    sent_date_time: str | None = None
    delivered_date_time: str | None = None
    signed_date_time: str | None = None
    declined_date_time: str | None = None
    declined_reason: str | None = None
    auto_responded_reason: str | None = None


class JsonSender(_ConnectModel):
    user_name: str | None = None
    email: str | None = None
    account_id: str | None = None


class JsonCustomField(_ConnectModel):
    name: str | None = None
    value: str | None = None


class JsonCustomFields(_ConnectModel):
    text_custom_fields: list[JsonCustomField] = Field(default_factory=list)
    list_custom_fields: list[JsonCustomField] = Field(default_factory=list)


class JsonDocument(_ConnectModel):
    document_id: str
    name: str = ""
    type: str = "content"
    pdf_bytes: str | None = Field(default=None, alias="PDFBytes")


class JsonEnvelope(_ConnectModel):
    """``data.envelopeSummary`` of a SIM message; the message itself in aggregate."""

    envelope_id: str | None = None
    status: str | None = None
    email_subject: str | None = None
    sender: JsonSender | None = None
    created_date_time: str | None = None
    sent_date_time: str | None = None
    delivered_date_time: str | None = None
    completed_date_time: str | None = None
    declined_date_time: str | None = None
    voided_date_time: str | None = None
    voided_reason: str | None = None
    status_changed_date_time: str | None = None
    last_modified_date_time: str | None = None
    expire_date_time: str | None = None
    custom_fields: JsonCustomFields | None = None
    recipients: dict[str, Any] | None = None
    envelope_documents: list[JsonDocument] = Field(default_factory=list)


class SimData(_ConnectModel):
    account_id: str = Field(min_length=1, max_length=100)
    envelope_id: str = Field(min_length=1, max_length=100)
    user_id: str | None = None
    recipient_id: str | None = None
    envelope_summary: JsonEnvelope | None = None


class SimMessage(_ConnectModel):
    event: str = Field(min_length=1, max_length=100)
    api_version: str | None = None
    uri: str | None = None
    retry_count: int | None = None
    configuration_id: str | None = None
    generated_date_time: str
    data: SimData


class AggregateMessage(JsonEnvelope):
    """The aggregate JSON format: the envelope object itself, as the REST API returns it."""

    envelope_id: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1)


def parse_json_message(body: bytes, account_id: str) -> ConnectEvent:
    """Parse a JSON Connect message: SIM (with or without envelope data) or aggregate.

    ``account_id`` is the tenant's, for the aggregate format when its sender names none.
    """
    try:
        document = json.loads(body)
    except RecursionError:
        raise MalformedPayload("body is JSON nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as exc:
        # ValueError includes a number past Python's int-string limit (4,300 digits).
        raise MalformedPayload(f"body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise MalformedPayload("body is JSON but not an object")
    if "event" in document or "data" in document:
        return _from_sim(_validate(SimMessage, document))
    if "envelopeId" in document:
        return _from_aggregate(_validate(AggregateMessage, document), account_id)
    raise SchemaViolation(
        "JSON body has none of 'event', 'data' or 'envelopeId': not a DocuSign Connect message"
    )


def _validate(model: type[_Model], document: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(document)
    except RecursionError:
        raise MalformedPayload("body is JSON nested too deeply to read") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise SchemaViolation(f"not a valid Connect message: {problems}") from exc


def _timestamp(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return canonical_timestamp(value)
    except TimestampError as exc:
        raise SchemaViolation(f"{field}: {exc}") from exc


def _stamps(pairs: dict[str, tuple[str | None, str]]) -> dict[str, str]:
    stamps = {}
    for name, (value, field) in pairs.items():
        stamp = _timestamp(value, field)
        if stamp is not None:
            stamps[name] = stamp
    return stamps


def _from_sim(message: SimMessage) -> ConnectEvent:
    generated = _timestamp(message.generated_date_time, "generatedDateTime")
    if generated is None:
        raise SchemaViolation("generatedDateTime: empty")
    data = message.data
    summary = data.envelope_summary
    event = bounded(message.event.strip().lower(), MAX_TOKEN) or ""
    if summary is None:
        recipients: tuple[RecipientState, ...] = ()
        if event.startswith("recipient-") and data.recipient_id:
            recipients = (RecipientState(recipient_id=data.recipient_id, status=None),)
        return ConnectEvent(
            wire_format="sim",
            event=event,
            account_id=data.account_id,
            envelope_id=data.envelope_id,
            generated=generated,
            snapshot=False,
            envelope=EnvelopeState(status=None),
            recipients=recipients,
            recipient_id=data.recipient_id,
            retry_count=message.retry_count,
            configuration_id=message.configuration_id,
        )
    return ConnectEvent(
        wire_format="sim",
        event=event,
        account_id=data.account_id,
        envelope_id=data.envelope_id,
        generated=generated,
        # The message carries envelope data: an unknown status is not a reason to refresh.
        snapshot=summary.status is not None,
        envelope=envelope_state(summary),
        recipients=recipient_states(summary),
        documents=documents(summary),
        recipient_id=data.recipient_id,
        retry_count=message.retry_count,
        configuration_id=message.configuration_id,
    )


def parse_envelope_document(document: dict[str, Any], account_id: str) -> ConnectEvent:
    """An envelope as ``GET .../envelopes/{id}?include=recipients`` returns it (a refresh)."""
    event = _from_aggregate(_validate(AggregateMessage, document), account_id)
    return replace(event, wire_format="api")


def _from_aggregate(message: AggregateMessage, account_id: str) -> ConnectEvent:
    """An aggregate message has no generatedDateTime: its latest timestamp orders it."""
    envelope = envelope_state(message)
    modified = _timestamp(message.last_modified_date_time, "lastModifiedDateTime")
    # What happened to it, not when it will expire: an expiry date lies in the future.
    happened = [stamp for name, stamp in envelope.timestamps.items() if name != EXPIRY]
    stamps = [*happened, *([modified] if modified else [])]
    if not stamps:
        raise SchemaViolation("aggregate message carries no timestamp to order it by")
    generated = max(stamps)
    return ConnectEvent(
        wire_format="aggregate",
        event=f"envelope-{envelope.status or 'status-unknown'}",
        account_id=(message.sender.account_id if message.sender else None) or account_id,
        envelope_id=message.envelope_id,
        generated=generated,
        snapshot=True,
        envelope=envelope,
        recipients=recipient_states(message),
        documents=documents(message),
    )


def envelope_state(envelope: JsonEnvelope) -> EnvelopeState:
    sender = envelope.sender or JsonSender()
    deal_id = None
    if envelope.custom_fields is not None:
        fields = envelope.custom_fields.text_custom_fields + envelope.custom_fields.list_custom_fields
        # A value that is not a CRM id ties the envelope to no deal (the archive keeps it).
        deal_id = next((f.value for f in fields if f.name == DEAL_ID_FIELD and is_crm_id(f.value)), None)
    status = envelope_status(envelope.status) if envelope.status else None
    return EnvelopeState(
        status=status,
        subject=bounded(envelope.email_subject, MAX_SUBJECT),
        sender_name=bounded(sender.user_name, MAX_NAME),
        sender_email=bounded(sender.email, MAX_EMAIL),
        deal_id=deal_id,
        voided_reason=bounded(envelope.voided_reason, MAX_REASON) or None,
        reported_status=bounded(envelope.status, MAX_TOKEN) if envelope.status and status is None else None,
        documents=document_list(envelope),
        timestamps=_stamps(
            {
                "created_at": (envelope.created_date_time, "createdDateTime"),
                "sent_at": (envelope.sent_date_time, "sentDateTime"),
                "delivered_at": (envelope.delivered_date_time, "deliveredDateTime"),
                "completed_at": (envelope.completed_date_time, "completedDateTime"),
                "declined_at": (envelope.declined_date_time, "declinedDateTime"),
                "voided_at": (envelope.voided_date_time, "voidedDateTime"),
                "status_changed_at": (
                    envelope.status_changed_date_time,
                    "statusChangedDateTime",
                ),
                "last_modified_at": (envelope.last_modified_date_time, "lastModifiedDateTime"),
                EXPIRY: (envelope.expire_date_time, "expireDateTime"),
            }
        ),
    )


def recipient_states(envelope: JsonEnvelope) -> tuple[RecipientState, ...]:
    """Every recipient of every type (signers, carbonCopies, ...), first occurrence wins."""
    states: dict[str, RecipientState] = {}
    for group, members in (envelope.recipients or {}).items():
        if not isinstance(members, list):
            continue  # recipientCount, currentRoutingOrder
        for index, member in enumerate(members):
            if not isinstance(member, dict):
                raise SchemaViolation(f"recipients.{group}[{index}]: not an object")
            try:
                recipient = JsonRecipient.model_validate(member)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise SchemaViolation(f"recipients.{group}[{index}].{where}: {first['msg']}") from exc
            if recipient.recipient_id in states:
                continue
            status = recipient_status(recipient.status) if recipient.status else None
            states[recipient.recipient_id] = RecipientState(
                recipient_id=recipient.recipient_id,
                status=status,
                recipient_type=normalise_recipient_type(recipient.recipient_type or group),
                routing_order=recipient.routing_order,
                name=bounded(recipient.name, MAX_NAME),
                email=bounded(recipient.email, MAX_EMAIL),
                recipient_id_guid=bounded(recipient.recipient_id_guid, MAX_TOKEN),
                decline_reason=bounded(recipient.declined_reason, MAX_REASON) or None,
                reported_status=(
                    bounded(recipient.status, MAX_TOKEN) if recipient.status and status is None else None
                ),
                timestamps=_stamps(
                    {
                        "sent_at": (recipient.sent_date_time, "sentDateTime"),
                        "delivered_at": (recipient.delivered_date_time, "deliveredDateTime"),
                        "signed_at": (recipient.signed_date_time, "signedDateTime"),
                        "declined_at": (recipient.declined_date_time, "declinedDateTime"),
                    }
                ),
            )
    return tuple(states.values())


def document_list(envelope: JsonEnvelope) -> tuple[DocumentInfo, ...]:
    """The envelope's documents as listed, with or without their bytes (odd ids are left out)."""
    return tuple(
        DocumentInfo(
            document_id=document.document_id,
            name=bounded(document.name, MAX_NAME) or "",
            kind=bounded(document.type.lower(), MAX_TOKEN) or "content",
        )
        for document in envelope.envelope_documents[:MAX_DOCUMENTS]
        if is_docusign_id(document.document_id)
    )


def documents(envelope: JsonEnvelope) -> tuple[ConnectDocument, ...]:
    found = []
    for document in envelope.envelope_documents:
        if not document.pdf_bytes:
            continue
        if not is_docusign_id(document.document_id):
            raise SchemaViolation(f"envelopeDocuments: {document.document_id[:40]!r} is not a document id")
        try:
            content = base64.b64decode(document.pdf_bytes, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SchemaViolation(f"envelopeDocuments[{document.document_id}].PDFBytes: not base64") from exc
        found.append(
            ConnectDocument(
                document_id=document.document_id,
                name=bounded(document.name, MAX_NAME) or "",
                kind=bounded(document.type.lower(), MAX_TOKEN) or "content",
                pdf_bytes=content,
            )
        )
    return tuple(found)
