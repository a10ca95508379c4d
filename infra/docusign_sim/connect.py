"""Connect callbacks as DocuSign sends them: JSON SIM or legacy XML, HMAC-signed, delivered in order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from infra.docusign_sim.documents import envelope_pdf
from infra.docusign_sim.model import CARBON_COPY, generated_time, rest_time

if TYPE_CHECKING:
    from infra.docusign_sim.model import Envelope, Recipient

log = logging.getLogger("dealwire.docusign_sim.connect")

FORMATS = ("json", "xml")
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
_XML_NS = (
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns="http://www.docusign.net/API/3.0"'
)
_RESPONSE_KEPT = 2000  # characters of the listener's answer kept per callback


def sign(body: bytes, key: str) -> str:
    """``X-DocuSign-Signature-N``: base64(HMAC-SHA256(key as UTF-8, body)).

    Written here rather than imported from dealwire, so a mistake there cannot hide in tests.
    """
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    webhook_url: str | None = None
    hmac_keys: tuple[str, ...] = ()
    connect_format: str = "json"
    include_envelope_data: bool = True
    include_documents: bool = False
    configuration_id: int = 10482913
    events: frozenset[str] = ALL_EVENTS
    # Legacy XML writes account-local times with no offset; this is the account's UTC offset.
    xml_offset_hours: int = 0
    xml_time_zone: str = "UTC"
    timeout: float = 10.0


@dataclass(slots=True)
class Outbound:
    sequence: int
    event: str
    envelope_id: str
    recipient_id: str | None
    generated: str
    connect_format: str
    url: str | None
    content_type: str
    body: bytes
    signatures: list[str]
    record: dict[str, Any] = field(default_factory=dict)


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
    if settings.include_envelope_data:
        summary = envelope.as_json(frozenset({"recipients", "custom_fields"}))
        if settings.include_documents and event == "envelope-completed":
            summary["envelopeDocuments"] = _documents_json(envelope)
        data["envelopeSummary"] = summary
    message = {
        "event": event,
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{envelope.sender.account_id}/envelopes/{envelope.envelope_id}",
        "retryCount": 0,
        "configurationId": settings.configuration_id,
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


_XML_STATUS = {"carboncopy": "CarbonCopy", "signer": "Signer"}


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
    if recipient.signed_at is not None and recipient.recipient_type != CARBON_COPY:
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
        url=settings.webhook_url,
        content_type=content_type,
        body=body,
        signatures=[sign(body, key) for key in settings.hmac_keys],
    )


# --- delivery ----------------------------------------------------------------------------


class Outbox:
    """Callbacks queued under the state lock, delivered outside it, one at a time, in order.

    Synchronous by default: the request that caused the events returns after they were
    answered. With ``asynchronous`` a worker thread delivers them instead, as DocuSign does.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: deque[Outbound] = deque()
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._delivering = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None
        # Loopback listeners must not go through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def put(self, messages: list[Outbound]) -> None:
        with self._lock:
            self._pending.extend(messages)
        self._wake.set()

    def drain(self) -> list[dict[str, Any]]:
        """Deliver everything queued so far; the records of what this call delivered."""
        done: list[dict[str, Any]] = []
        with self._delivering:
            while True:
                with self._lock:
                    if not self._pending:
                        return done
                    message = self._pending.popleft()
                done.append(self._deliver(message))

    def start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="docusign-sim-connect", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=self.timeout + 1)
            self._worker = None
        self._stopped.clear()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self.drain()

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _deliver(self, message: Outbound) -> dict[str, Any]:
        record: dict[str, Any] = {
            "sequence": message.sequence,
            "event": message.event,
            "envelopeId": message.envelope_id,
            "recipientId": message.recipient_id,
            "generatedDateTime": message.generated,
            "format": message.connect_format,
            "url": message.url,
            "contentType": message.content_type,
            "signatures": list(message.signatures),
            "body": message.body.decode("utf-8"),
            "sentAt": rest_time(datetime.now(UTC)),
            "status": None,
            "responseBody": None,
            "error": None,
            "durationMs": 0.0,
        }
        started = time.monotonic()
        if not message.url:
            record["error"] = "no webhook URL is configured: the callback was not sent"
        elif not message.url.startswith(("http://", "https://")):
            record["error"] = f"webhook URL {message.url!r} is not http(s)"
        else:
            headers = {"Content-Type": message.content_type, "User-Agent": "DocuSign-Connect-Simulator"}
            headers |= {f"X-DocuSign-Signature-{n}": s for n, s in enumerate(message.signatures, start=1)}
            request = urllib.request.Request(message.url, data=message.body, headers=headers, method="POST")  # noqa: S310 - scheme checked above
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    record["status"] = response.status
                    record["responseBody"] = response.read().decode("utf-8", "replace")[:_RESPONSE_KEPT]
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
                record["responseBody"] = exc.read().decode("utf-8", "replace")[:_RESPONSE_KEPT]
            except (OSError, ValueError) as exc:  # refused, timed out, unreachable, malformed URL
                record["error"] = f"{type(exc).__name__}: {exc}"
        record["durationMs"] = round((time.monotonic() - started) * 1000, 1)
        log.info(
            "connect %s %s -> %s", message.event, message.envelope_id, record["status"] or record["error"]
        )
        with self._lock:
            self._records.append(record)
        return dict(record)
