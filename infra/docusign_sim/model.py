"""Simulated envelopes, recipients and templates: DocuSign's state machine and its REST v2.1 JSON."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from infra.docusign_sim.delivery import Delivery, Notification, parse_delivery, parse_notification
from infra.docusign_sim.errors import SimError

if TYPE_CHECKING:
    from collections.abc import Callable

    from infra.docusign_sim.templates import Template, TemplateRole

SIGNER = "signer"
CARBON_COPY = "carboncopy"
CERTIFIED_DELIVERY = "certifieddelivery"
RECIPIENT_TYPES = (SIGNER, CARBON_COPY, CERTIFIED_DELIVERY)
# Who acts on an envelope (opens it, signs or acknowledges it); carbon copies only receive it.
ACTING_TYPES = (SIGNER, CERTIFIED_DELIVERY)
# Keys of the REST ``recipients`` object, in DocuSign's order; three are ever filled.
RECIPIENT_GROUPS = (
    "signers",
    "agents",
    "editors",
    "intermediaries",
    "carbonCopies",
    "certifiedDeliveries",
    "inPersonSigners",
    "seals",
    "witnesses",
    "notaries",
)
GROUP_OF = {SIGNER: "signers", CARBON_COPY: "carbonCopies", CERTIFIED_DELIVERY: "certifiedDeliveries"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# (event name, recipientId or None): what one transition announces over Connect, in order.
Event = tuple[str, str | None]


class MonotonicClock:
    """UTC now, strictly increasing: two Connect events must never share a generatedDateTime."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now = datetime.now(UTC)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now


def rest_time(moment: datetime) -> str:
    """REST and Connect JSON form: milliseconds padded to 7 digits, ``...45.6100000Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}0000Z"


def generated_time(moment: datetime, sequence: int) -> str:
    """``generatedDateTime``: all 7 digits significant, as Connect writes them."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{sequence % 10}Z"


def routing_order(value: object) -> int:
    try:
        order = int(str(value))
    except ValueError:
        order = 0
    if not 1 <= order <= 999:
        raise SimError(400, "INVALID_REQUEST_PARAMETER", f"invalid routingOrder {value!r}: 1 to 999")
    return order


@dataclass(frozen=True, slots=True)
class Sender:
    user_id: str
    user_name: str
    email: str
    account_id: str


@dataclass(slots=True)
class Recipient:
    recipient_id: str
    role_name: str
    name: str
    email: str
    routing_order: int
    recipient_type: str
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "created"
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    signed_at: datetime | None = None
    declined_at: datetime | None = None
    declined_reason: str | None = None
    delivery: Delivery = field(default_factory=Delivery)
    client_user_id: str | None = None
    email_notification: dict[str, str] | None = None
    # A signer's text tabs: {tabId, tabLabel, value, originalValue, documentId, pageNumber, ...}.
    text_tabs: list[dict[str, str]] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        """Has what its delivery method needs: a name, and an email unless it goes by SMS/WhatsApp."""
        return bool(self.name) and (not self.delivery.needs_email or bool(_EMAIL.match(self.email)))

    def as_json(self, *, include_tabs: bool = False) -> dict[str, Any]:
        """One entry of ``recipients.signers`` / ``carbonCopies`` / ``certifiedDeliveries``, keys
        in DocuSign's order; ``include_tabs``: a signer's ``tabs`` too."""
        out: dict[str, Any] = {}
        if self.recipient_type == SIGNER:  # carbon copies and certified deliveries have none of these
            out |= {"creationReason": "sender", "isBulkRecipient": "false", "requireUploadSignature": "false"}
        out |= {
            "name": self.name,
            "email": self.email,
            "recipientId": self.recipient_id,
            "recipientIdGuid": self.guid,
            "requireIdLookup": "false",
            "userId": self.user_id,
            "routingOrder": str(self.routing_order),
            "roleName": self.role_name,
            "status": self.status,
            "completedCount": "1" if self.status == "completed" else "0",
        }
        stamps = (
            ("signedDateTime", self.signed_at),
            ("deliveredDateTime", self.delivered_at),
            ("declinedDateTime", self.declined_at),
        )
        out |= {name: rest_time(value) for name, value in stamps if value is not None}
        if self.declined_reason is not None:
            out["declinedReason"] = self.declined_reason
        if self.sent_at is not None:
            out["sentDateTime"] = rest_time(self.sent_at)
        if self.client_user_id is not None:
            out["clientUserId"] = self.client_user_id
        if self.email_notification is not None:
            out["emailNotification"] = dict(self.email_notification)
        out |= self.delivery.as_json()
        out["recipientType"] = self.recipient_type
        if include_tabs and self.recipient_type == SIGNER:
            out["tabs"] = {"textTabs": [dict(tab) for tab in self.text_tabs]}
        return out


@dataclass(slots=True)
class Envelope:
    envelope_id: str
    template_id: str
    email_subject: str
    document_name: str
    sender: Sender
    created_at: datetime
    recipients: list[Recipient]
    text_custom_fields: list[dict[str, str]]
    list_custom_fields: list[dict[str, Any]]
    status: str = "created"
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    declined_at: datetime | None = None
    voided_at: datetime | None = None
    voided_reason: str | None = None
    status_changed_at: datetime | None = None
    last_modified_at: datetime | None = None
    # Any change, a recipient's included: what listStatusChanges' from_date compares with.
    changed_at: datetime | None = None
    document_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    certificate_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    email_blurb: str = ""
    # The sender's own id for the envelope, to find it again (listStatusChanges' transaction_ids).
    transaction_id: str | None = None
    notification: Notification = field(default_factory=Notification)
    # 0 for a template without documents: such an envelope can be a draft, never be sent.
    document_count: int = 1
    # The last event it announced: what DocuSign's retry queue publishes again (its current state).
    last_event: Event | None = None

    # --- transitions ---------------------------------------------------------------------

    def recipient(self, recipient_id: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.recipient_id == recipient_id:
                return recipient
        raise SimError(404, "RECIPIENT_NOT_IN_SEQUENCE", f"no recipient {recipient_id!r} in this envelope")

    def _set_status(self, status: str, now: datetime) -> None:
        self.status = status
        self.status_changed_at = now
        self.last_modified_at = now
        self.changed_at = now

    def send(self, clock: Callable[[], datetime]) -> list[Event]:
        """A draft (``created``) becomes ``sent``; the first routing order is sent to."""
        if self.status != "created":
            raise SimError(400, "ENVELOPE_CANNOT_BE_SENT", f"the envelope is {self.status}, not a draft")
        for recipient in self.recipients:
            if not recipient.reachable:
                raise SimError(
                    400,
                    "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT",
                    "The email address for the recipient is invalid. The recipient Id follows. "
                    + recipient.recipient_id,
                )
        if self.document_count == 0 or not any(r.recipient_type == SIGNER for r in self.recipients):
            raise SimError(
                400,
                "ENVELOPE_IS_INCOMPLETE",
                "The Envelope is not Complete. A Complete Envelope Requires Documents, Recipients, "
                "Tabs, and a Subject Line.",
            )
        now = clock()
        self.sent_at = now
        self._set_status("sent", now)
        return [("envelope-sent", None), *self._route(clock)]

    def _route(self, clock: Callable[[], datetime]) -> list[Event]:
        """Send to the lowest routing order not yet done; complete the envelope when none is left.

        Carbon copies are done as soon as the routing reaches them (no Connect event is sent
        for them here: which recipient events DocuSign sends for CCs is unverified); signers and
        certified deliveries are sent to, and act (``deliver``, then ``sign``: a certified
        delivery's acknowledgement).
        """
        events: list[Event] = []
        while True:
            pending = [r for r in self.recipients if r.status != "completed"]
            if not pending:
                now = clock()
                self.completed_at = now
                self.delivered_at = self.delivered_at or now
                self._set_status("completed", now)
                events.append(("envelope-completed", None))
                return events
            order = min(r.routing_order for r in pending)
            for recipient in pending:
                if recipient.routing_order == order and recipient.status == "created":
                    now = clock()
                    recipient.sent_at = now
                    self.changed_at = now
                    if recipient.recipient_type == CARBON_COPY:
                        recipient.status = "completed"
                    else:
                        recipient.status = "sent"
                        events.append(("recipient-sent", recipient.recipient_id))
            if any(r.routing_order == order and r.status != "completed" for r in self.recipients):
                return events

    def current_routing_order(self) -> int:
        pending = [r.routing_order for r in self.recipients if r.status not in ("completed", "created")]
        if pending:
            return min(pending)
        started = [r.routing_order for r in self.recipients if r.status != "created"]
        return max(started) if started else 1

    def _active_signer(self, recipient_id: str, action: str) -> Recipient:
        if self.status not in ("sent", "delivered"):
            raise SimError(409, "ENVELOPE_NOT_IN_PROGRESS", f"cannot {action}: the envelope is {self.status}")
        recipient = self.recipient(recipient_id)
        acting = (SIGNER,) if action == "decline" else ACTING_TYPES
        if recipient.recipient_type not in acting:
            raise SimError(
                409, "RECIPIENT_NOT_A_SIGNER", f"recipient {recipient_id} is a {recipient.recipient_type}"
            )
        if recipient.status not in ("sent", "delivered"):
            raise SimError(
                409,
                "RECIPIENT_NOT_IN_SEQUENCE",
                f"cannot {action}: recipient {recipient_id} is {recipient.status} (only a sent or "
                "delivered signer can act)",
            )
        return recipient

    def deliver(self, recipient_id: str, clock: Callable[[], datetime]) -> list[Event]:
        """The recipient opens the envelope. Once every signer and certified delivery has, the
        envelope is ``delivered``."""
        recipient = self._active_signer(recipient_id, "deliver")
        if recipient.status != "sent":
            raise SimError(409, "RECIPIENT_NOT_IN_SEQUENCE", f"recipient {recipient_id} is already delivered")
        return self._deliver(recipient, clock)

    def _deliver(self, recipient: Recipient, clock: Callable[[], datetime]) -> list[Event]:
        now = clock()
        recipient.status = "delivered"
        recipient.delivered_at = now
        self.changed_at = now
        events: list[Event] = [("recipient-delivered", recipient.recipient_id)]
        actors = [r for r in self.recipients if r.recipient_type in ACTING_TYPES]
        if self.status == "sent" and all(r.status in ("delivered", "completed") for r in actors):
            self.delivered_at = now
            self._set_status("delivered", now)
            events.append(("envelope-delivered", None))
        return events

    def sign(self, recipient_id: str, clock: Callable[[], datetime]) -> list[Event]:
        """The recipient signs, or a certified delivery acknowledges (opening it first if not yet
        delivered); routing moves on."""
        recipient = self._active_signer(recipient_id, "sign")
        events = self._deliver(recipient, clock) if recipient.status == "sent" else []
        now = clock()
        recipient.status = "completed"
        recipient.signed_at = now
        self.changed_at = now
        events.append(("recipient-completed", recipient.recipient_id))
        if all(
            r.status == "completed" for r in self.recipients if r.routing_order == recipient.routing_order
        ):
            events += self._route(clock)
        return events

    def decline(self, recipient_id: str, reason: str, clock: Callable[[], datetime]) -> list[Event]:
        """The recipient declines: the envelope ends ``declined``."""
        recipient = self._active_signer(recipient_id, "decline")
        events = self._deliver(recipient, clock) if recipient.status == "sent" else []
        now = clock()
        recipient.status = "declined"
        recipient.declined_at = now
        recipient.declined_reason = reason
        self.declined_at = now
        self._set_status("declined", now)
        return [*events, ("recipient-declined", recipient.recipient_id), ("envelope-declined", None)]

    def void(self, reason: str, clock: Callable[[], datetime]) -> list[Event]:
        if self.status not in ("sent", "delivered"):
            raise SimError(
                400,
                "ENVELOPE_CANNOT_VOID_INVALID_STATE",
                "Only envelopes in the 'Sent' or 'Delivered' states may be voided.",
            )
        if not reason.strip():
            raise SimError(400, "INVALID_REQUEST_PARAMETER", "voidedReason is required to void an envelope")
        now = clock()
        self.voided_at = now
        self.voided_reason = reason
        self._set_status("voided", now)
        return [("envelope-voided", None)]

    # --- REST JSON -----------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The 201 answer of ``POST envelopes``."""
        moment = self.sent_at if self.status == "sent" and self.sent_at else self.created_at
        return {
            "envelopeId": self.envelope_id,
            "uri": f"/envelopes/{self.envelope_id}",
            "statusDateTime": rest_time(moment),
            "status": self.status,
        }

    def document_list(self, *, connect: bool = False) -> list[dict[str, Any]]:
        """``envelopeDocuments``: REST's envelopeDocument model says ``authoritativeCopy``
        where Connect's JSON (connect.schema-v2) says ``authoritative``."""
        base = f"/envelopes/{self.envelope_id}/documents"
        common = {
            "display": "inline",
            "includeInDownload": "true",
            "signerMustAcknowledge": "no_interaction",
            "templateRequired": "false",
            "authoritative" if connect else "authoritativeCopy": "false",
        }
        content = {
            "documentId": "1",
            "documentIdGuid": self.document_guid,
            "name": self.document_name,
            "type": "content",
            "uri": f"{base}/1",
            "order": "1",
            **common,
        }
        return [
            *([content] if self.document_count else []),
            {
                "documentId": "certificate",
                "documentIdGuid": self.certificate_guid,
                "name": "Summary",
                "type": "summary",
                "uri": f"{base}/certificate",
                "order": "999",
                **common,
            },
        ]

    def recipients_json(self, *, include_tabs: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {group: [] for group in RECIPIENT_GROUPS}
        for recipient in sorted(self.recipients, key=lambda r: (r.routing_order, int(r.recipient_id))):
            out[GROUP_OF[recipient.recipient_type]].append(recipient.as_json(include_tabs=include_tabs))
        out["recipientCount"] = str(len(self.recipients))
        out["currentRoutingOrder"] = str(self.current_routing_order())
        return out

    def as_json(self, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        """``GET envelopes/{id}``: ``include`` may name recipients, tabs (the recipients' tabs),
        custom_fields, documents, notifications (the ``notification`` object)."""
        uri = f"/envelopes/{self.envelope_id}"
        out: dict[str, Any] = {
            "status": self.status,
            "documentsUri": f"{uri}/documents",
            "recipientsUri": f"{uri}/recipients",
            "attachmentsUri": f"{uri}/attachments",
            "envelopeUri": uri,
            "emailSubject": self.email_subject,
            **({"emailBlurb": self.email_blurb} if self.email_blurb else {}),
            "envelopeId": self.envelope_id,
            "signingLocation": "online",
            "customFieldsUri": f"{uri}/custom_fields",
            "notificationUri": f"{uri}/notification",
            "enableWetSign": "true",
            "allowMarkup": "false",
            "allowReassign": "true",
            "createdDateTime": rest_time(self.created_at),
            "lastModifiedDateTime": rest_time(self.last_modified_at or self.created_at),
        }
        stamps = (
            ("deliveredDateTime", self.delivered_at),
            ("initialSentDateTime", self.sent_at),
            ("sentDateTime", self.sent_at),
            ("completedDateTime", self.completed_at),
            ("declinedDateTime", self.declined_at),
            ("voidedDateTime", self.voided_at),
        )
        out |= {name: rest_time(value) for name, value in stamps if value is not None}
        if self.voided_reason is not None:
            out["voidedReason"] = self.voided_reason
        out |= {
            "statusChangedDateTime": rest_time(self.status_changed_at or self.created_at),
            "documentsCombinedUri": f"{uri}/documents/combined",
            "certificateUri": f"{uri}/documents/certificate",
            "templatesUri": f"{uri}/templates",
            "expireEnabled": str(self.notification.expire_enabled).lower(),
        }
        expire_after = self.notification.expire_after
        if self.sent_at is not None and self.notification.expire_enabled:
            out["expireDateTime"] = rest_time(self.sent_at + timedelta(days=expire_after))
        out |= {
            "expireAfter": str(expire_after),
            "sender": {
                "userName": self.sender.user_name,
                "userId": self.sender.user_id,
                "accountId": self.sender.account_id,
                "email": self.sender.email,
            },
        }
        if "custom_fields" in include:
            out["customFields"] = {
                "textCustomFields": [dict(f) for f in self.text_custom_fields],
                "listCustomFields": [dict(f) for f in self.list_custom_fields],
            }
        if "recipients" in include:
            out["recipients"] = self.recipients_json(include_tabs="tabs" in include)
        if "notifications" in include or "notification" in include:
            out["notification"] = self.notification.as_json()
        if self.transaction_id is not None:
            out["transactionId"] = self.transaction_id
        out |= {
            "purgeState": "unpurged",
            "envelopeIdStamping": "true",
            "is21CFRPart11": "false",
            "signerCanSignOnMobile": "true",
            "autoNavigation": "true",
            "isSignatureProviderEnvelope": "false",
            "hasFormDataChanged": "false",
            "allowComments": "true",
            "hasComments": "false",
            "allowViewHistory": "true",
            "envelopeMetadata": {
                "allowAdvancedCorrect": "true",
                "enableSignWithNotary": "false",
                "allowCorrect": "true",
            },
            "anySigner": None,
            "envelopeLocation": "current",
            "isDynamicEnvelope": "false",
            "burnDefaultTabData": "false",
        }
        if "documents" in include:
            out["envelopeDocuments"] = self.document_list()
        return out


def _tab_values(given: dict[str, Any], where: str) -> dict[str, str]:
    """``templateRoles[].tabs.textTabs`` as label → value (only text tabs are simulated)."""
    tabs = given.get("tabs") or {}
    text_tabs = (tabs.get("textTabs") or []) if isinstance(tabs, dict) else None
    if not isinstance(text_tabs, list) or not all(isinstance(t, dict) for t in text_tabs):
        raise SimError(400, "INVALID_REQUEST_BODY", f"{where}.tabs.textTabs must be a list of objects")
    return {str(t.get("tabLabel", "")): str(t.get("value", "")) for t in text_tabs}


def _email_notification(given: dict[str, Any], where: str) -> dict[str, str] | None:
    raw = given.get("emailNotification")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SimError(400, "INVALID_REQUEST_BODY", f"{where}.emailNotification must be an object")
    keys = ("emailSubject", "emailBody", "supportedLanguage")
    return {key: str(raw[key]) for key in keys if raw.get(key) is not None}


def _recipient(number: int, role: TemplateRole, given: dict[str, Any]) -> Recipient:
    """A template role as the envelope's recipient, with what ``templateRoles`` gave for it:
    text tab values fill the template's tabs by ``tabLabel`` (a label the role lacks is
    ignored, as DocuSign ignores it)."""
    where = f"templateRoles[{role.role_name!r}]"
    values = _tab_values(given, where)
    recipient_id = str(number)
    tabs = [
        {
            "tabId": str(uuid.uuid4()),
            "tabLabel": tab.label,
            "value": values.get(tab.label, tab.value),
            "originalValue": tab.value,
            "documentId": "1",
            "pageNumber": "1",
            "recipientId": recipient_id,
            "tabType": "text",
        }
        for tab in role.text_tabs
    ]
    client_user_id = given.get("clientUserId")
    return Recipient(
        recipient_id=recipient_id,
        role_name=role.role_name,
        name=str(given.get("name", role.name)),
        email=str(given.get("email", role.email)),
        routing_order=routing_order(given.get("routingOrder", role.routing_order)),
        recipient_type=role.recipient_type,
        delivery=parse_delivery(given, where),
        client_user_id=str(client_user_id) if client_user_id else None,
        email_notification=_email_notification(given, where),
        text_tabs=tabs,
    )


def _custom_fields(request: dict[str, Any], field_ids: Callable[[], str]) -> tuple[list[Any], list[Any]]:
    custom = request.get("customFields") or {}
    if not isinstance(custom, dict):
        raise SimError(400, "INVALID_REQUEST_BODY", "customFields must be an object")
    text_fields = []
    for item in custom.get("textCustomFields") or []:
        if not isinstance(item, dict) or not item.get("name"):
            raise SimError(400, "INVALID_REQUEST_BODY", "each textCustomFields entry needs a name")
        text_fields.append(
            {
                "fieldId": field_ids(),
                "name": str(item["name"]),
                "show": str(item.get("show", "true")).lower(),
                "required": str(item.get("required", "false")).lower(),
                "value": str(item.get("value", "")),
            }
        )
    list_fields = [
        {"fieldId": field_ids(), **item}
        for item in custom.get("listCustomFields") or []
        if isinstance(item, dict)
    ]
    return text_fields, list_fields


def new_envelope(
    request: object,
    templates: dict[str, Template],
    sender: Sender,
    now: datetime,
    field_ids: Callable[[], str],
) -> Envelope:
    """The envelope ``POST envelopes`` describes (composite templates and inline documents are
    not simulated: a ``templateId`` is required). Like DocuSign, a ``templateRoles`` entry that
    names no role of the template is ignored, and a template role nobody filled keeps no email
    (so sending fails with INVALID_EMAIL_ADDRESS_FOR_RECIPIENT)."""
    if not isinstance(request, dict):
        raise SimError(400, "INVALID_REQUEST_BODY", "The request body is missing or improperly formatted.")
    template_id = request.get("templateId")
    if not template_id:
        raise SimError(
            400,
            "ENVELOPE_IS_INCOMPLETE",
            "The Envelope is not Complete. A Complete Envelope Requires Documents, Recipients, Tabs, "
            "and a Subject Line. (the simulator creates envelopes from a templateId only)",
        )
    template = templates.get(str(template_id))
    if template is None:
        raise SimError(400, "TEMPLATE_ID_INVALID", f"Invalid template ID. {template_id}")
    roles_given = request.get("templateRoles") or []
    if not isinstance(roles_given, list) or not all(isinstance(r, dict) for r in roles_given):
        raise SimError(400, "INVALID_REQUEST_BODY", "templateRoles must be a list of objects")
    by_role = {str(r.get("roleName", "")): r for r in roles_given}
    recipients = [
        _recipient(number, role, by_role.get(role.role_name, {}))
        for number, role in enumerate(template.roles, start=1)
    ]
    text_fields, list_fields = _custom_fields(request, field_ids)
    transaction_id = request.get("transactionId")
    return Envelope(
        envelope_id=str(uuid.uuid4()),
        template_id=template.template_id,
        email_subject=str(request.get("emailSubject") or template.email_subject),
        document_name=template.document_name,
        sender=sender,
        created_at=now,
        recipients=recipients,
        text_custom_fields=text_fields,
        list_custom_fields=list_fields,
        status_changed_at=now,
        last_modified_at=now,
        changed_at=now,
        email_blurb=str(request.get("emailBlurb") or template.email_blurb),
        transaction_id=str(transaction_id) if transaction_id else None,
        notification=parse_notification(request.get("notification")),
        document_count=len(template.documents),
    )
