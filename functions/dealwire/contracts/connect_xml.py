"""DocuSign Connect legacy XML messages (``DocuSignEnvelopeInformation``).

Parsed with defusedxml and no DTD allowed: Connect never sends one, and refusing it
shuts out entity expansion ("billion laughs") and external entities in one rule.
Statuses are capitalised ("Completed") and timestamps carry no UTC offset: they are in
the zone of ``<TimeZoneOffset>`` when the message has it, else the account's zone.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from dealwire.contracts.connect_json import parse_routing_order
from dealwire.contracts.errors import MalformedPayload, SchemaViolation
from dealwire.domain.envelope_event import (
    DEAL_ID_FIELD,
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
from dealwire.domain.timestamps import TimestampError, canonical_timestamp, zone_from_offset_hours

if TYPE_CHECKING:
    from datetime import tzinfo

    # Only the type of what defusedxml returns: nothing here parses with the stdlib.
    from xml.etree.ElementTree import Element  # nosec B405

ROOT = "DocuSignEnvelopeInformation"

_ENVELOPE_STAMPS = {
    "created_at": "Created",
    "sent_at": "Sent",
    "delivered_at": "Delivered",
    "completed_at": "Completed",
    "declined_at": "Declined",
    "voided_at": "Voided",
}
_RECIPIENT_STAMPS = {
    "sent_at": "Sent",
    "delivered_at": "Delivered",
    "signed_at": "Signed",
    "declined_at": "Declined",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element, name: str) -> Element | None:
    """The direct child called ``name``, in any namespace.

    Direct children only: a recipient's ``<Status>`` comes before the envelope's own in
    document order, and a descendant search would return it.
    """
    # ``_local(tag) == name`` without splitting every tag: XML names hold no "}", so a tag
    # that ends in "}" + name has ``name`` after its last one.
    qualified = "}" + name
    for child in element:
        tag = child.tag
        if tag == name or tag.endswith(qualified):
            return child
    return None


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    qualified = "}" + name
    return [child for child in element if child.tag == name or child.tag.endswith(qualified)]


def _text(element: Element | None, name: str) -> str | None:
    child = None if element is None else _child(element, name)
    if child is None or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def parse_xml_message(body: bytes, account_id: str, account_zone: tzinfo) -> ConnectEvent:
    """Parse an XML Connect message; it names no account, so the tenant's is used."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MalformedPayload(
            f"XML refused: {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from exc
    except (ParseError, ValueError, LookupError) as exc:
        # LookupError: an encoding declaration naming no codec Python has.
        raise MalformedPayload(f"body is not well-formed XML: {str(exc)[:200]}") from None
    except RecursionError:
        raise MalformedPayload("body is XML nested too deeply to read") from None
    if _local(root.tag) != ROOT:
        raise SchemaViolation(f"XML root is <{_local(root.tag)}>, expected <{ROOT}>")
    status_element = _child(root, "EnvelopeStatus")
    if status_element is None:
        raise SchemaViolation(f"<{ROOT}> has no <EnvelopeStatus>")
    offset = _text(root, "TimeZoneOffset")
    try:
        zone = zone_from_offset_hours(offset) if offset is not None else account_zone
    except TimestampError as exc:
        raise SchemaViolation(f"TimeZoneOffset: {exc}") from exc

    def stamp(element: Element, name: str) -> str | None:
        value = _text(element, name)
        if value is None:
            return None
        try:
            return canonical_timestamp(value, zone)
        except TimestampError as exc:
            raise SchemaViolation(f"{_local(element.tag)}.{name}: {exc}") from exc

    envelope_id = _text(status_element, "EnvelopeID")
    status = _text(status_element, "Status")
    generated = stamp(status_element, "TimeGenerated")
    if envelope_id is None or status is None or generated is None:
        missing = [
            f"<{name}>"
            for name, value in (("EnvelopeID", envelope_id), ("Status", status), ("TimeGenerated", generated))
            if value is None
        ]
        raise SchemaViolation(f"<EnvelopeStatus> lacks {', '.join(missing)}")

    envelope_stamps = {
        name: value
        for name, tag in _ENVELOPE_STAMPS.items()
        if (value := stamp(status_element, tag)) is not None
    }
    known = envelope_status(status)
    envelope = EnvelopeState(
        status=known,
        subject=bounded(_text(status_element, "Subject"), MAX_SUBJECT),
        sender_name=bounded(_text(status_element, "UserName"), MAX_NAME),
        sender_email=bounded(_text(status_element, "Email"), MAX_EMAIL),
        deal_id=_deal_id(status_element),
        voided_reason=bounded(_text(status_element, "VoidReason"), MAX_REASON),
        reported_status=None if known else bounded(status, MAX_TOKEN),
        timestamps=envelope_stamps,
        documents=_document_list(status_element),
    )
    recipients = []
    seen: set[str] = set()
    statuses = _child(status_element, "RecipientStatuses")
    for index, element in enumerate(_children(statuses, "RecipientStatus")):
        recipient_id = _text(element, "RecipientId")
        if recipient_id is None:
            raise SchemaViolation(f"RecipientStatus[{index}] lacks <RecipientId>")
        if recipient_id in seen:
            continue
        seen.add(recipient_id)
        reported = _text(element, "Status")
        known_status = recipient_status(reported) if reported else None
        kind = _text(element, "Type")
        recipients.append(
            RecipientState(
                recipient_id=recipient_id,
                status=known_status,
                recipient_type=normalise_recipient_type(kind) if kind else None,
                routing_order=parse_routing_order(_text(element, "RoutingOrder")),
                name=bounded(_text(element, "UserName"), MAX_NAME),
                email=bounded(_text(element, "Email"), MAX_EMAIL),
                recipient_id_guid=bounded(recipient_id, MAX_TOKEN),
                decline_reason=bounded(_text(element, "DeclineReason"), MAX_REASON),
                reported_status=None if known_status or not reported else bounded(reported, MAX_TOKEN),
                timestamps={
                    name: value
                    for name, tag in _RECIPIENT_STAMPS.items()
                    if (value := stamp(element, tag)) is not None
                },
            )
        )
    return ConnectEvent(
        wire_format="xml",
        event=f"envelope-{envelope.status or 'status-unknown'}",
        account_id=account_id,
        envelope_id=envelope_id,
        generated=generated,
        snapshot=True,
        envelope=envelope,
        recipients=tuple(recipients),
        documents=_documents(root),
    )


def _deal_id(status_element: Element) -> str | None:
    for field in _children(_child(status_element, "CustomFields"), "CustomField"):
        if _text(field, "Name") == DEAL_ID_FIELD:
            value = _text(field, "Value")
            # A value that is not a CRM id ties the envelope to no deal (the archive keeps it).
            return value if is_crm_id(value) else None
    return None


def _document_list(status_element: Element) -> tuple[DocumentInfo, ...]:
    """``<DocumentStatuses>``: the envelope's documents by id and name."""
    found = []
    for element in _children(_child(status_element, "DocumentStatuses"), "DocumentStatus")[:MAX_DOCUMENTS]:
        document_id = _text(element, "ID")
        if document_id and is_docusign_id(document_id):
            found.append(
                DocumentInfo(document_id, bounded(_text(element, "Name"), MAX_NAME) or "", "content")
            )
    return tuple(found)


def _documents(root: Element) -> tuple[ConnectDocument, ...]:
    found = []
    for index, element in enumerate(_children(_child(root, "DocumentPDFs"), "DocumentPDF")):
        encoded = _text(element, "PDFBytes")
        if encoded is None:
            continue
        try:
            content = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise SchemaViolation(f"DocumentPDF[{index}].PDFBytes: not base64") from exc
        kind = bounded((_text(element, "DocumentType") or "content").lower(), MAX_TOKEN) or "content"
        # The certificate of completion comes as DocumentType SUMMARY without a DocumentID.
        fallback = "certificate" if kind == "summary" else f"pdf-{index + 1}"
        document_id = _text(element, "DocumentID") or fallback
        if not is_docusign_id(document_id):
            raise SchemaViolation(
                f"DocumentPDF[{index}].DocumentID {document_id[:40]!r} is not a document id"
            )
        found.append(
            ConnectDocument(
                document_id=document_id,
                name=bounded(_text(element, "Name"), MAX_NAME) or "",
                kind=kind,
                pdf_bytes=content,
            )
        )
    return tuple(found)
