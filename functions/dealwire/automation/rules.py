"""Automation rules: when a deal enters a stage, send one document type from one DocuSign template.

A rule is checked whole when it is saved, so nothing about it can fail only when it
fires but what the deal and DocuSign hold at that moment: the merge fields in its
subject and message are known ones, its roles are named once, its SMS roles come from
contacts (who have phones), its reminders fit inside its expiration.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from dealwire.contracts.bodies import Request
from dealwire.contracts.crm import Email  # noqa: TC001 - pydantic needs it at run time
from dealwire.domain.ids import CRM_ID_PATTERN, DOCUSIGN_ID_PATTERN

# {{deal.title}}, {{person.name}}, {{user.name}}, and any {{deal.properties.X}} / {{person.properties.X}}.
MERGE_FIELD: Final = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
KNOWN_FIELDS: Final = frozenset(
    {
        "deal.title",
        "deal.id",
        "person.name",
        "person.email",
        "person.phone",
        "user.name",
        "stage.id",
        "pipeline.id",
    }
)
_PROPERTY_FIELD: Final = re.compile(r"^(deal|person)\.properties\.[A-Za-z0-9_.-]{1,64}$")
DOCUSIGN_GUID: Final = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"

RoleName = Annotated[str, Field(min_length=1, max_length=100)]
Delivery = Literal["email", "sms"]


def unknown_fields(text: str) -> list[str]:
    """The merge fields in ``text`` that no deal can fill."""
    return [
        name
        for name in MERGE_FIELD.findall(text)
        if name not in KNOWN_FIELDS and not _PROPERTY_FIELD.match(name)
    ]


class FixedRecipient(Request):
    """A role the rule always fills with the same person (the company's own signer)."""

    role_name: RoleName
    name: str = Field(min_length=1, max_length=100)
    email: Email


class FieldMapping(Request):
    """A text tab of the template (by its label) filled from a deal or primary-contact property."""

    tab_label: str = Field(min_length=1, max_length=100)
    source: str = Field(
        pattern=r"^(deal\.title|deal\.id|person\.name|person\.email|person\.phone|"
        r"(deal|person)\.properties\.[A-Za-z0-9_.-]{1,64})$",
        description="deal.title, person.name, deal.properties.<name>, person.properties.<name>, ...",
    )


class Reminders(Request):
    """DocuSign's reminder settings: first after ``delay_days``, then every ``frequency_days``."""

    delay_days: int = Field(ge=1, le=999)
    frequency_days: int = Field(ge=1, le=999)


class Expiration(Request):
    """DocuSign's expiration: the envelope expires ``after_days`` after it was sent."""

    after_days: int = Field(ge=1, le=999)
    warn_days: int = Field(default=0, ge=0, le=999)

    @model_validator(mode="after")
    def _warn_before(self) -> Expiration:
        if self.warn_days >= self.after_days:
            raise ValueError("warnDays must be fewer than afterDays")
        return self


class RuleDefinition(Request):
    """What an automation rule says; ``/v1/automation-rules`` takes and answers it."""

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    pipeline_id: str = Field(pattern=CRM_ID_PATTERN)
    stage_id: str = Field(pattern=CRM_ID_PATTERN)
    document_type: str = Field(
        min_length=1, max_length=100, description="One rule sends one document type (an NDA, a quote)"
    )
    # DocuSign's id shape: it becomes part of a request URL, so nothing else may pass.
    template_id: str = Field(pattern=DOCUSIGN_ID_PATTERN)
    contact_roles: list[RoleName] = Field(
        default_factory=list,
        max_length=20,
        description="Template roles filled from the deal's contacts, in order: the primary contact first",
    )
    fixed_recipients: list[FixedRecipient] = Field(default_factory=list, max_length=20)
    sender_user_id: str | None = Field(
        default=None,
        pattern=DOCUSIGN_GUID,
        description="The DocuSign user who sends; the tenant's connected user when left out",
    )
    email_subject: str = Field(default="Please sign: {{deal.title}}", min_length=1, max_length=100)
    email_message: str = Field(default="", max_length=10_000)
    field_mappings: list[FieldMapping] = Field(default_factory=list, max_length=100)
    reminders: Reminders | None = None
    expiration: Expiration | None = None
    delivery: dict[RoleName, Delivery] = Field(
        default_factory=dict, description="Per role: email (the default) or sms (the contact's phone)"
    )
    when_active: Literal["skip", "replace"] = Field(
        default="skip",
        description="A signing process from this rule still active for the deal: skip, or void it and send",
    )

    @field_validator("email_subject", "email_message")
    @classmethod
    def _known_merge_fields(cls, value: str) -> str:
        unknown = unknown_fields(value)
        if unknown:
            raise ValueError(
                f"unknown merge fields {', '.join('{{' + u + '}}' for u in unknown)}; known: "
                f"{', '.join(sorted(KNOWN_FIELDS))}, deal.properties.<name>, person.properties.<name>"
            )
        return value

    @model_validator(mode="after")
    def _roles_make_sense(self) -> RuleDefinition:
        fixed = [recipient.role_name for recipient in self.fixed_recipients]
        named = self.contact_roles + fixed
        twice = sorted({role for role in named if named.count(role) > 1})
        if twice:
            raise ValueError(f"roles named twice: {', '.join(twice)}")
        if not named:
            raise ValueError("the rule fills no role: name contactRoles or fixedRecipients")
        strays = sorted(set(self.delivery) - set(named))
        if strays:
            raise ValueError(f"delivery names roles the rule does not fill: {', '.join(strays)}")
        sms_fixed = sorted(role for role in fixed if self.delivery.get(role) == "sms")
        if sms_fixed:
            raise ValueError(
                f"sms delivery needs a contact's phone; fixed roles have none: {', '.join(sms_fixed)}"
            )
        if self.reminders and self.expiration and self.reminders.delay_days >= self.expiration.after_days:
            raise ValueError("the first reminder must come before the envelope expires")
        return self
