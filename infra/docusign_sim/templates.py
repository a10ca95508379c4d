"""Simulated server templates: what the control API registers, and REST v2.1's EnvelopeTemplate JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.docusign_sim.errors import SimError
from infra.docusign_sim.model import (
    GROUP_OF,
    RECIPIENT_GROUPS,
    RECIPIENT_TYPES,
    SIGNER,
    rest_time,
    routing_order,
)

# A fixed moment for the built-in template, so its JSON is the same in every run.
_BUILT_IN = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TextTab:
    """A text tab of a template role: ``tabLabel`` and its default ``value``."""

    label: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class TemplateDocument:
    document_id: str
    name: str
    pages: int = 1


@dataclass(frozen=True, slots=True)
class TemplateRole:
    role_name: str
    routing_order: int
    recipient_type: str = SIGNER
    # A recipient the template fixes (DocuSign: a role with a name and email saved in the template).
    name: str = ""
    email: str = ""
    text_tabs: tuple[TextTab, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    name: str
    email_subject: str
    roles: tuple[TemplateRole, ...]
    documents: tuple[TemplateDocument, ...]
    description: str = ""
    email_blurb: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def document_name(self) -> str:
        """The envelope renders the first document (the simulator's envelopes have one)."""
        return self.documents[0].name if self.documents else ""

    def summary(self) -> dict[str, Any]:
        """``GET /_sim/templates``: the template as it was registered."""
        return {
            "templateId": self.template_id,
            "name": self.name,
            "description": self.description,
            "documentName": self.document_name,
            "documents": [
                {"documentId": d.document_id, "name": d.name, "pages": d.pages} for d in self.documents
            ],
            "emailSubject": self.email_subject,
            "emailBlurb": self.email_blurb,
            "roles": [
                {
                    "roleName": role.role_name,
                    "routingOrder": str(role.routing_order),
                    "type": role.recipient_type,
                    "name": role.name,
                    "email": role.email,
                    "tabs": [{"tabLabel": t.label, "value": t.value} for t in role.text_tabs],
                }
                for role in self.roles
            ],
        }

    # --- REST JSON -----------------------------------------------------------------------

    def as_json(self, owner: dict[str, str], include: frozenset[str]) -> dict[str, Any]:
        """An EnvelopeTemplate (``GET templates/{id}`` with every part, the list's entries with
        the parts ``include`` names: recipients, documents)."""
        out: dict[str, Any] = {
            "templateId": self.template_id,
            "uri": f"/templates/{self.template_id}",
            "name": self.name,
            "shared": "false",
            "passwordProtected": "false",
            "description": self.description,
            "created": rest_time(self.created_at),
            "lastModified": rest_time(self.created_at),
            "pageCount": str(sum(d.pages for d in self.documents)),
            "owner": owner,
            "emailSubject": self.email_subject,
            "emailBlurb": self.email_blurb,
            "signingLocation": "online",
            "status": "created",
            "allowMarkup": "false",
            "allowReassign": "true",
            "enableWetSign": "true",
        }
        if "documents" in include:
            out["documents"] = [
                {
                    "documentId": d.document_id,
                    "uri": f"/templates/{self.template_id}/documents/{d.document_id}",
                    "name": d.name,
                    "order": str(order),
                    "pages": str(d.pages),
                    "display": "inline",
                    "includeInDownload": "true",
                    "signerMustAcknowledge": "no_interaction",
                    "templateRequired": "false",
                }
                for order, d in enumerate(self.documents, start=1)
            ]
        if "recipients" in include:
            out["recipients"] = self.recipients_json()
        return out

    def recipients_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {group: [] for group in RECIPIENT_GROUPS}
        first_document = self.documents[0].document_id if self.documents else "1"
        for number, role in enumerate(self.roles, start=1):
            recipient: dict[str, Any] = {
                "roleName": role.role_name,
                "recipientId": str(number),
                "routingOrder": str(role.routing_order),
                "recipientType": role.recipient_type,
            }
            if role.name or role.email:
                recipient |= {"name": role.name, "email": role.email}
            if role.recipient_type == SIGNER:
                recipient["tabs"] = {
                    "textTabs": [
                        {
                            "tabLabel": tab.label,
                            "value": tab.value,
                            "documentId": first_document,
                            "pageNumber": "1",
                            "recipientId": str(number),
                            "tabType": "text",
                        }
                        for tab in role.text_tabs
                    ]
                }
            out[GROUP_OF[role.recipient_type]].append(recipient)
        out["recipientCount"] = str(len(self.roles))
        return out


def _text_tabs(raw: object, where: str) -> tuple[TextTab, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, dict) and t.get("tabLabel") for t in raw):
        raise SimError(400, "INVALID_REQUEST_BODY", f"{where}.tabs must be a list of {{tabLabel, value}}")
    return tuple(TextTab(str(t["tabLabel"]), str(t.get("value", ""))) for t in raw)


def _documents(body: dict[str, Any], template_id: str) -> tuple[TemplateDocument, ...]:
    raw = body.get("documents")
    if raw is None:  # the older form: one document, named
        return (TemplateDocument("1", str(body.get("documentName", f"{template_id}.pdf"))),)
    if not isinstance(raw, list) or not all(isinstance(d, dict) and d.get("name") for d in raw):
        raise SimError(400, "INVALID_REQUEST_BODY", "documents must be a list of {documentId, name, pages}")
    return tuple(
        TemplateDocument(str(d.get("documentId", index)), str(d["name"]), int(d.get("pages", 1)))
        for index, d in enumerate(raw, start=1)
    )


def parse_template(body: object) -> Template:
    """A template registered through the control API (``POST /_sim/templates``): roles of any
    recipient type, with a fixed recipient and text tabs; no roles and no documents are allowed
    (DocuSign lets a template be saved so), so a client's refusal of such a template can be tested."""
    if not isinstance(body, dict) or not body.get("templateId") or not isinstance(body.get("roles"), list):
        raise SimError(400, "INVALID_REQUEST_BODY", "a template needs templateId and a list of roles")
    roles = []
    for index, role in enumerate(body["roles"]):
        if not isinstance(role, dict) or not role.get("roleName"):
            raise SimError(400, "INVALID_REQUEST_BODY", f"roles[{index}] needs a roleName")
        kind = str(role.get("type", SIGNER)).lower()
        if kind not in RECIPIENT_TYPES:
            raise SimError(
                400, "INVALID_REQUEST_BODY", f"roles[{index}].type must be one of {RECIPIENT_TYPES}"
            )
        roles.append(
            TemplateRole(
                role_name=str(role["roleName"]),
                routing_order=routing_order(role.get("routingOrder", index + 1)),
                recipient_type=kind,
                name=str(role.get("name", "")),
                email=str(role.get("email", "")),
                text_tabs=_text_tabs(role.get("tabs"), f"roles[{index}]"),
            )
        )
    template_id = str(body["templateId"])
    return Template(
        template_id=template_id,
        name=str(body.get("name", template_id)),
        description=str(body.get("description", "")),
        email_subject=str(body.get("emailSubject", "Please DocuSign this document")),
        email_blurb=str(body.get("emailBlurb", "")),
        roles=tuple(roles),
        documents=_documents(body, template_id),
    )


DEFAULT_TEMPLATE = Template(
    template_id="tpl-nda",
    name="Mutual NDA",
    description="Mutual non-disclosure agreement, two signers",
    email_subject="Please DocuSign: Mutual NDA",
    roles=(
        TemplateRole("Signer 1", 1, text_tabs=(TextTab("deal_title"),)),
        TemplateRole("Signer 2", 2, text_tabs=(TextTab("signer_company"),)),
    ),
    documents=(TemplateDocument("1", "Mutual NDA.pdf"),),
    created_at=_BUILT_IN,
)
