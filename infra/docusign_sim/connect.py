"""Connect messages as DocuSign builds them: JSON SIM or legacy XML, HMAC-signed, one per configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from xml.sax.saxutils import escape

from infra.docusign_sim.documents import envelope_pdf
from infra.docusign_sim.model import SIGNER, generated_time

if TYPE_CHECKING:
    from infra.docusign_sim.model import Envelope, Recipient

FORMATS = ("json", "xml")
# The events the simulator sends (its start-up configuration subscribes to all of them by default).
ALL_EVENTS = frozenset(
    {
        "envelope-sent",
        "envelope-delivered",
        "envelope-completed",
        "envelope-declined",
        "envelope-voided",
        "recipient-sent",
        "recipient-delivered",
        "recipient-completed",
        "recipient-declined",
    }
)
NO_CONFIGURATION = "no webhook URL is configured: no enabled Connect configuration, the callback was not sent"
# What became of one callback: the listener answered 2xx ("delivered") or not ("refused"), or did not
# answer ("unanswered"); it was never sent ("not_sent": nothing publishes, or Connect is off), or was
# lost on purpose ("dropped": dropCallbacks).
Outcome = Literal["delivered", "refused", "unanswered", "not_sent", "dropped"]
_XML_NS = (
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns="http://www.docusign.net/API/3.0"'
)


def sign(body: bytes, key: str) -> str:
    """``X-DocuSign-Signature-N``: base64(HMAC-SHA256(key as UTF-8, body)).

    Written here rather than imported from dealwire, so a mistake there cannot hide in tests.
    """
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    """How the messages to one Connect configuration are built and signed."""

    url: str
    connect_id: str
    hmac_keys: tuple[str, ...] = ()
    connect_format: str = "json"
    # What envelopeSummary includes (eventData.includeData); none: no envelopeSummary at all.
    envelope_data: frozenset[str] = frozenset({"recipients", "custom_fields"})
    include_documents: bool = False
    # Legacy XML writes account-local times with no offset; this is the account's UTC offset.
    xml_offset_hours: int = 0
    xml_time_zone: str = "UTC"


@dataclass(slots=True)
class Outbound:
    """One message for one configuration, with what its failure log entry would say."""

    sequence: int
    event: str
    envelope_id: str
    recipient_id: str | None
    generated: str
    connect_format: str | None
    url: str | None
    content_type: str
    body: bytes
    signatures: list[str]
    connect_id: str | None = None
    account_id: str = ""
    envelope_status: str = ""
    subject: str = ""
    sender_name: str = ""
    sender_email: str = ""
    # Why it is not sent (no configuration publishes, Connect is off); None: it goes to ``url``.
    not_sent: str | None = None
    # Lost on purpose (dropCallbacks): never POSTed, logged as a failure.
    dropped: bool = False
    # Published again by the retry queue (connect/envelopes/.../retry_queue).
    republish: bool = False
    # Filled in by the outbox once it has been dealt with: the outcome, and the failure log's error.
    outcome: Outcome | None = None
    failure: str | None = None


# --- message bodies ----------------------------------------------------------------------


def _documents_json(envelope: Envelope) -> list[dict[str, Any]]:
    documents = envelope.document_list(connect=True)
    for document in documents:
        pdf = envelope_pdf(envelope, str(document["documentId"]))
        document["PDFBytes"] = base64.b64encode(pdf).decode("ascii")
    return documents


def json_message(
    settings: ConnectSettings,
    envelope: Envelope,
    event: str,
    recipient_id: str | None,
    generated: str,
) -> bytes:
    """A JSON SIM message ("Send Individual Messages"), the shape of connect.schema-v2.json."""
    data: dict[str, Any] = {
        "accountId": envelope.sender.account_id,
        "userId": envelope.sender.user_id,
        "envelopeId": envelope.envelope_id,
    }
    if recipient_id is not None:
        data["recipientId"] = recipient_id
    documents = settings.include_documents and event == "envelope-completed"
    if settings.envelope_data or documents:
        summary = envelope.as_json(settings.envelope_data)
        if documents:
            summary["envelopeDocuments"] = _documents_json(envelope)
        data["envelopeSummary"] = summary
    message = {
        "event": event,
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{envelope.sender.account_id}/envelopes/{envelope.envelope_id}",
        "retryCount": 0,
        "configurationId": int(settings.connect_id),
        "generatedDateTime": generated,
        "data": data,
    }
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def _xml_time(moment: datetime | None, zone: timezone) -> str | None:
    """Account-local, no offset, milliseconds with trailing zeros trimmed (``...45.61``)."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    fraction = f"{local.microsecond // 1000:03d}".rstrip("0")
    return f"{local:%Y-%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "")


class _Xml:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def open(self, tag: str) -> None:
        self.lines.append(f"{'  ' * self.depth}<{tag}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append(f"{'  ' * self.depth}</{tag}>")

    def leaf(self, tag: str, value: str | None, *, keep_empty: bool = True) -> None:
        if value is None and not keep_empty:
            return
        indent = "  " * self.depth
        self.lines.append(f"{indent}<{tag} />" if not value else f"{indent}<{tag}>{escape(value)}</{tag}>")

    def nil(self, tag: str) -> None:
        self.lines.append(f'{"  " * self.depth}<{tag} xsi:nil="true" />')


_XML_STATUS = {"carboncopy": "CarbonCopy", "signer": "Signer", "certifieddelivery": "CertifiedDelivery"}


def _xml_recipient(xml: _Xml, recipient: Recipient, stamp: Any) -> None:  # noqa: ANN401
    xml.open("RecipientStatus")
    xml.leaf("Type", _XML_STATUS[recipient.recipient_type])
    xml.leaf("Email", recipient.email)
    xml.leaf("UserName", recipient.name)
    xml.leaf("RoutingOrder", str(recipient.routing_order))
    xml.leaf("Sent", stamp(recipient.sent_at), keep_empty=False)
    xml.leaf("Delivered", stamp(recipient.delivered_at), keep_empty=False)
    xml.leaf("Signed", stamp(recipient.signed_at), keep_empty=False)
    xml.leaf("Declined", stamp(recipient.declined_at), keep_empty=False)
    if recipient.declined_reason is None:
        xml.nil("DeclineReason")
    else:
        xml.leaf("DeclineReason", recipient.declined_reason)
    xml.leaf("Status", recipient.status.capitalize())
    xml.leaf("RecipientIPAddress", "127.0.0.1" if recipient.delivered_at else None)
    xml.leaf("CustomFields", None)
    if recipient.signed_at is not None and recipient.recipient_type == SIGNER:
        xml.open("TabStatuses")
        xml.open("TabStatus")
        for tag, value in (
            ("TabType", "SignHere"),
            ("Status", "Signed"),
            ("TabLabel", f"signer_{recipient.recipient_id}"),
            ("TabName", "SignHere"),
            ("DocumentID", "1"),
            ("PageNumber", "1"),
        ):
            xml.leaf(tag, value)
        xml.close("TabStatus")
        xml.close("TabStatuses")
    xml.leaf("AccountStatus", "Active")
    xml.leaf("RecipientId", recipient.guid)
    xml.close("RecipientStatus")


def _xml_envelope(xml: _Xml, envelope: Envelope, stamp: Any) -> None:  # noqa: ANN401
    """``EnvelopeStatus`` after the recipients and ``TimeGenerated``, in the order Connect writes it."""
    xml.leaf("EnvelopeID", envelope.envelope_id)
    xml.leaf("Subject", envelope.email_subject)
    xml.leaf("UserName", envelope.sender.user_name)
    xml.leaf("Email", envelope.sender.email)
    xml.leaf("Status", envelope.status.capitalize())
    xml.leaf("Created", stamp(envelope.created_at))
    signed = envelope.completed_at  # the envelope's Signed is when the last signature completed it
    for tag, moment in (
        ("Sent", envelope.sent_at),
        ("Delivered", envelope.delivered_at),
        ("Signed", signed),
        ("Completed", envelope.completed_at),
        ("Declined", envelope.declined_at),
        ("Voided", envelope.voided_at),
    ):
        xml.leaf(tag, stamp(moment), keep_empty=False)
    xml.leaf("VoidReason", envelope.voided_reason, keep_empty=False)
    xml.leaf("ACStatus", "Original")
    xml.leaf("ACStatusDate", stamp(envelope.created_at))
    xml.leaf("ACHolder", envelope.sender.user_name)
    xml.leaf("ACHolderEmail", envelope.sender.email)
    xml.leaf("ACHolderLocation", "DocuSign")
    xml.leaf("SigningLocation", "Online")
    xml.leaf("SenderIPAddress", "127.0.0.1")
    xml.leaf("EnvelopePDFHash", None)
    xml.open("CustomFields")
    for custom in envelope.text_custom_fields:
        xml.open("CustomField")
        xml.leaf("Name", custom["name"])
        xml.leaf("Show", custom["show"])
        xml.leaf("Required", custom["required"])
        xml.leaf("Value", custom["value"])
        xml.leaf("CustomFieldType", "Text")
        xml.close("CustomField")
    xml.close("CustomFields")
    xml.leaf("AutoNavigation", "true")
    xml.leaf("EnvelopeIdStamping", "true")
    xml.leaf("AuthoritativeCopy", "false")
    xml.open("DocumentStatuses")
    xml.open("DocumentStatus")
    xml.leaf("ID", "1")
    xml.leaf("Name", envelope.document_name)
    xml.leaf("TemplateName", None)
    xml.leaf("Sequence", "1")
    xml.close("DocumentStatus")
    xml.close("DocumentStatuses")


def _xml_documents(xml: _Xml, envelope: Envelope) -> None:
    xml.open("DocumentPDFs")
    for name, document_id, kind in (
        (envelope.document_name, "1", "CONTENT"),
        (f"CertificateOfCompletion_{envelope.envelope_id}.pdf", None, "SUMMARY"),
    ):
        xml.open("DocumentPDF")
        xml.leaf("Name", name)
        pdf = envelope_pdf(envelope, document_id or "certificate")
        xml.leaf("PDFBytes", base64.b64encode(pdf).decode("ascii"))
        xml.leaf("DocumentID", document_id, keep_empty=False)
        xml.leaf("DocumentType", kind)
        xml.close("DocumentPDF")
    xml.close("DocumentPDFs")


def xml_message(settings: ConnectSettings, envelope: Envelope, event: str, generated: datetime) -> bytes:
    """A legacy XML ``DocuSignEnvelopeInformation``: one envelope snapshot per event."""
    zone = timezone(timedelta(hours=settings.xml_offset_hours))

    def stamp(moment: datetime | None) -> str | None:
        return _xml_time(moment, zone)

    xml = _Xml()
    xml.lines.append('<?xml version="1.0" encoding="utf-8"?>')
    xml.lines.append(f"<DocuSignEnvelopeInformation {_XML_NS}>")
    xml.depth = 1
    xml.open("EnvelopeStatus")
    xml.open("RecipientStatuses")
    for recipient in sorted(envelope.recipients, key=lambda r: (r.routing_order, int(r.recipient_id))):
        _xml_recipient(xml, recipient, stamp)
    xml.close("RecipientStatuses")
    local_generated = generated.astimezone(zone)
    xml.leaf("TimeGenerated", f"{local_generated:%Y-%m-%dT%H:%M:%S}.{local_generated.microsecond:06d}0")
    _xml_envelope(xml, envelope, stamp)
    xml.close("EnvelopeStatus")
    if settings.include_documents and event == "envelope-completed":
        _xml_documents(xml, envelope)
    xml.leaf("TimeZone", settings.xml_time_zone)
    xml.leaf("TimeZoneOffset", str(settings.xml_offset_hours))
    xml.lines.append("</DocuSignEnvelopeInformation>")
    return ("\n".join(xml.lines) + "\n").encode("utf-8")


def build(
    settings: ConnectSettings,
    envelope: Envelope,
    event: str,
    *,
    recipient_id: str | None,
    moment: datetime,
    sequence: int,
) -> Outbound:
    """The callback for one event, from the envelope as it is now (call under the state lock)."""
    generated = generated_time(moment, sequence)
    if settings.connect_format == "xml":
        body = xml_message(settings, envelope, event, moment)
        content_type = "text/xml; charset=utf-8"
    else:
        body = json_message(settings, envelope, event, recipient_id, generated)
        content_type = "application/json"
    return Outbound(
        sequence=sequence,
        event=event,
        envelope_id=envelope.envelope_id,
        recipient_id=recipient_id,
        generated=generated,
        connect_format=settings.connect_format,
        url=settings.url,
        content_type=content_type,
        body=body,
        signatures=[sign(body, key) for key in settings.hmac_keys],
        connect_id=settings.connect_id,
        **_facts(envelope),
    )


def unsent(
    envelope: Envelope,
    event: str,
    *,
    recipient_id: str | None,
    moment: datetime,
    sequence: int,
    reason: str = NO_CONFIGURATION,
) -> Outbound:
    """The record of an event nothing publishes: no enabled configuration, or Connect is off."""
    return Outbound(
        sequence=sequence,
        event=event,
        envelope_id=envelope.envelope_id,
        recipient_id=recipient_id,
        generated=generated_time(moment, sequence),
        connect_format=None,
        url=None,
        content_type="",
        body=b"",
        signatures=[],
        not_sent=reason,
        **_facts(envelope),
    )


class _Facts(TypedDict):
    """What a failure log entry says of the envelope (Outbound's fields of the same names)."""

    account_id: str
    envelope_status: str
    subject: str
    sender_name: str
    sender_email: str


def _facts(envelope: Envelope) -> _Facts:
    return {
        "account_id": envelope.sender.account_id,
        "envelope_status": envelope.status,
        "subject": envelope.email_subject,
        "sender_name": envelope.sender.user_name,
        "sender_email": envelope.sender.email,
    }
