"""Templates and sending through DocuSign's REST API: what a template asks for, and an envelope made once.

An envelope's creation is the one call that must never be repeated blindly: the client
sends it ``once`` (a lost answer raises ``DocuSignUnavailable`` with ``maybe_done``), and
every send carries a ``transactionId`` and the same id as a text custom field, so the
caller can ask DocuSign whether the envelope exists before asking for it again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dealwire.docusign.client import DocuSignClient

SEND_ID_FIELD: Final = "dealwire_send_id"
# DocuSign keeps a transactionId findable for 7 days; the custom field is searched after.
TRANSACTION_ID_DAYS: Final = 7
RecipientKind = Literal["signer", "carbon_copy", "certified_delivery"]
_LISTS: Final[dict[str, RecipientKind]] = {
    "signers": "signer",
    "carbonCopies": "carbon_copy",
    "certifiedDeliveries": "certified_delivery",
}


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class TemplateSummary(_Model):
    template_id: str
    name: str = ""
    description: str = ""
    email_subject: str = ""
    last_modified: str | None = None


class TemplateRole(_Model):
    """A recipient the template defines: a role to fill, or one it fills itself (name and email)."""

    role_name: str = ""
    kind: RecipientKind = "signer"
    routing_order: int | None = None
    name: str | None = None
    email: str | None = None
    tab_labels: tuple[str, ...] = ()


class TemplateDocument(_Model):
    document_id: str
    name: str = ""
    pages: int | None = None


class TemplateDetail(_Model):
    template_id: str
    name: str = ""
    email_subject: str = ""
    roles: tuple[TemplateRole, ...] = ()
    documents: tuple[TemplateDocument, ...] = ()


class Recipient(_Model):
    """One template role filled for an envelope."""

    role_name: str
    name: str
    email: str | None = None
    routing_order: int | None = None
    delivery: Literal["email", "sms"] = "email"
    phone: tuple[str, str] | None = Field(
        default=None, description="(country code, number), for sms delivery"
    )
    email_subject: str | None = None
    email_body: str | None = None
    tabs: dict[str, str] = Field(default_factory=dict)


class Notification(_Model):
    reminder_delay_days: int | None = None
    reminder_frequency_days: int | None = None
    expire_after_days: int | None = None
    expire_warn_days: int | None = None


class EnvelopeRequest(_Model):
    """What to send: a template, its roles filled, and how DocuSign should chase the signers."""

    template_id: str
    recipients: tuple[Recipient, ...]
    email_subject: str
    email_blurb: str = ""
    send_id: str = Field(
        description="dealwire's id of this send: DocuSign's transactionId, and a custom field"
    )
    custom_fields: dict[str, str] = Field(default_factory=dict)
    notification: Notification | None = None
    draft: bool = False


class SentEnvelope(_Model):
    envelope_id: str
    status: str
    status_date_time: str | None = None


def _role(item: Mapping[str, Any], kind: RecipientKind) -> TemplateRole:
    tabs = item.get("tabs") or {}
    labels = tuple(str(tab.get("tabLabel")) for tab in tabs.get("textTabs") or [] if tab.get("tabLabel"))
    order = item.get("routingOrder")
    return TemplateRole(
        role_name=str(item.get("roleName") or ""),
        kind=kind,
        routing_order=int(str(order)) if str(order or "").isdigit() else None,
        name=item.get("name") or None,
        email=item.get("email") or None,
        tab_labels=labels,
    )


def envelope_body(request: EnvelopeRequest) -> dict[str, Any]:
    """The REST body of ``POST envelopes`` for ``request`` (flags and numbers as DocuSign's strings)."""
    roles = []
    for recipient in request.recipients:
        role: dict[str, Any] = {"roleName": recipient.role_name, "name": recipient.name}
        if recipient.email:
            role["email"] = recipient.email
        if recipient.routing_order is not None:
            role["routingOrder"] = str(recipient.routing_order)
        if recipient.delivery == "sms" and recipient.phone:
            role["deliveryMethod"] = "SMS"
            role["phoneNumber"] = {"countryCode": recipient.phone[0], "number": recipient.phone[1]}
        if recipient.email_subject or recipient.email_body:
            role["emailNotification"] = {
                "emailSubject": recipient.email_subject or request.email_subject,
                "emailBody": recipient.email_body or "",
            }
        if recipient.tabs:
            role["tabs"] = {
                "textTabs": [{"tabLabel": label, "value": value} for label, value in recipient.tabs.items()]
            }
        roles.append(role)
    body: dict[str, Any] = {
        "templateId": request.template_id,
        "templateRoles": roles,
        "emailSubject": request.email_subject,
        "status": "created" if request.draft else "sent",
        "transactionId": request.send_id,
        "customFields": {
            "textCustomFields": [
                {"name": name, "value": value, "show": "false"}
                for name, value in {**request.custom_fields, SEND_ID_FIELD: request.send_id}.items()
            ]
        },
    }
    if request.email_blurb:
        body["emailBlurb"] = request.email_blurb
    if request.notification is not None:
        body["notification"] = _notification(request.notification)
    return body


def _notification(notification: Notification) -> dict[str, Any]:
    found: dict[str, Any] = {"useAccountDefaults": "false"}
    if notification.reminder_delay_days is not None:
        found["reminders"] = {
            "reminderEnabled": "true",
            "reminderDelay": str(notification.reminder_delay_days),
            "reminderFrequency": str(
                notification.reminder_frequency_days or notification.reminder_delay_days
            ),
        }
    if notification.expire_after_days is not None:
        found["expirations"] = {
            "expireEnabled": "true",
            "expireAfter": str(notification.expire_after_days),
            "expireWarn": str(notification.expire_warn_days or 0),
        }
    return found


class EnvelopeSender:
    """Templates and envelopes through one tenant's client (its budget, its retries)."""

    def __init__(self, client: DocuSignClient) -> None:
        self._client = client

    @property
    def requests(self) -> int:
        return self._client.requests

    def templates(self, *, limit: int = 100, start: int = 0) -> list[TemplateSummary]:
        answer = self._client.request(
            "GET", "templates", params={"count": str(limit), "start_position": str(start)}
        ).json()
        return [TemplateSummary.model_validate(item) for item in answer.get("envelopeTemplates") or []]

    def template(self, template_id: str) -> TemplateDetail:
        answer = self._client.request(
            "GET", f"templates/{template_id}", params={"include": "recipients,documents,tabs"}
        ).json()
        recipients = answer.get("recipients") or {}
        roles = [_role(item, kind) for name, kind in _LISTS.items() for item in recipients.get(name) or []]
        return TemplateDetail(
            template_id=str(answer.get("templateId") or template_id),
            name=str(answer.get("name") or ""),
            email_subject=str(answer.get("emailSubject") or ""),
            roles=tuple(sorted(roles, key=lambda r: (r.routing_order or 0, r.role_name))),
            documents=tuple(
                TemplateDocument(
                    document_id=str(doc.get("documentId")),
                    name=str(doc.get("name") or ""),
                    pages=int(str(doc["pages"])) if str(doc.get("pages") or "").isdigit() else None,
                )
                for doc in answer.get("documents") or []
            ),
        )

    def create(self, request: EnvelopeRequest) -> SentEnvelope:
        """One creation, sent once: a lost answer raises ``DocuSignUnavailable`` (``maybe_done``)."""
        answer = self._client.request("POST", "envelopes", json=envelope_body(request), once=True)
        return SentEnvelope.model_validate(answer.json())

    def find(self, send_id: str, since: datetime) -> SentEnvelope | None:
        """The envelope DocuSign made for ``send_id``, if any: by transactionId (kept 7 days),
        then by the custom field."""
        start = (since - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        queries: list[dict[str, str]] = [{"from_date": start, "transaction_ids": send_id}]
        if datetime.now(UTC) - since > timedelta(days=TRANSACTION_ID_DAYS - 1):
            queries.append({"from_date": start, "custom_field": f"{SEND_ID_FIELD}={send_id}"})
        for params in queries:
            found = self._client.request("GET", "envelopes", params=params).json().get("envelopes") or []
            matching = [item for item in found if _sent_as(item, send_id)]
            if matching:
                first = min(matching, key=lambda item: str(item.get("createdDateTime") or ""))
                return SentEnvelope(
                    envelope_id=str(first["envelopeId"]),
                    status=str(first.get("status") or "sent"),
                    status_date_time=first.get("statusChangedDateTime") or first.get("createdDateTime"),
                )
        return None

    def sender_view(self, envelope_id: str, return_url: str) -> str:
        answer = self._client.request(
            "POST", f"envelopes/{envelope_id}/views/sender", json={"returnUrl": return_url}
        ).json()
        return str(answer["url"])

    def template_or_none(self, template_id: str) -> TemplateDetail | None:
        """The template, or None when DocuSign says the account has no such template."""
        from dealwire.docusign.errors import TEMPLATE_MISSING, DocuSignError  # noqa: PLC0415

        try:
            return self.template(template_id)
        except DocuSignError as exc:
            if exc.status == 404 or exc.error_code in TEMPLATE_MISSING:
                return None
            raise

    def void_if_out(self, envelope_id: str, reason: str) -> None:
        """Void the envelope; one completed or voided meanwhile has nothing left to void."""
        from dealwire.docusign.errors import DocuSignError  # noqa: PLC0415

        try:
            self._client.void_envelope(envelope_id, reason[:200])
        except DocuSignError as exc:
            if exc.error_code != "ENVELOPE_CANNOT_VOID_INVALID_STATE":
                raise


def _sent_as(item: Mapping[str, Any], send_id: str) -> bool:
    """Whether a listed envelope is ``send_id``'s (its transactionId, or its custom field)."""
    if item.get("transactionId") == send_id:
        return True
    fields = (item.get("customFields") or {}).get("textCustomFields") or []
    return any(f.get("name") == SEND_ID_FIELD and f.get("value") == send_id for f in fields)


def recipients_of(template: TemplateDetail) -> Sequence[TemplateRole]:
    """The roles a send must fill: those the template does not fill itself."""
    return [role for role in template.roles if not role.email]
