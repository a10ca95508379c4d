"""``POST /v1/deals/{dealId}/envelopes``: a document sent (or drafted) by hand from a template."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dealwire.automation.rules import Expiration, Reminders  # noqa: TC001 - pydantic needs them at run time
from dealwire.contracts.bodies import Body, Request
from dealwire.contracts.crm import Email, Phone  # noqa: TC001 - pydantic needs them at run time
from dealwire.domain.ids import DOCUSIGN_ID_PATTERN


class ManualRecipient(Request):
    """One recipient for one of the template's roles, chosen by the sender."""

    role_name: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    email: Email | None = None
    phone: Phone | None = None
    type: Literal["signer", "carbon_copy", "certified_delivery"] = "signer"
    routing_order: int | None = Field(default=None, ge=1, le=999)
    delivery: Literal["email", "sms"] = "email"
    email_subject: str | None = Field(
        default=None, max_length=100, description="This recipient's own subject"
    )
    email_body: str | None = Field(
        default=None, max_length=10_000, description="This recipient's own message"
    )

    @model_validator(mode="after")
    def _reachable(self) -> ManualRecipient:
        if self.delivery == "sms" and self.phone is None:
            raise ValueError(f"{self.role_name}: sms delivery needs a phone")
        if self.delivery == "email" and self.email is None:
            raise ValueError(f"{self.role_name}: email delivery needs an email")
        return self


class ManualSend(Request):
    # DocuSign's id shape: it becomes part of a request URL, so nothing else may pass.
    template_id: str = Field(pattern=DOCUSIGN_ID_PATTERN)
    recipients: list[ManualRecipient] = Field(min_length=1, max_length=50)
    email_subject: str = Field(min_length=1, max_length=100)
    email_message: str = Field(default="", max_length=10_000)
    reminders: Reminders | None = None
    expiration: Expiration | None = None
    draft: bool = Field(default=False, description="Create it unsent and answer DocuSign's sender view")
    return_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", max_length=2000, description="Where the sender view returns"
    )
    replace: bool = Field(
        default=False,
        description="Void the deal's active envelope from this template first (else 409 when one is out)",
    )

    @model_validator(mode="after")
    def _sensible(self) -> ManualSend:
        roles = [r.role_name for r in self.recipients]
        twice = sorted({role for role in roles if roles.count(role) > 1})
        if twice:
            raise ValueError(f"roles named twice: {', '.join(twice)}")
        if self.draft and not self.return_url:
            raise ValueError("returnUrl: a draft needs the URL DocuSign's sender view returns to")
        return self


class ManualSent(Body):
    envelope_id: str
    status: Literal["sent", "created"]
    send_id: str
    sender_view_url: str | None = Field(
        default=None, description="For a draft: DocuSign's page to place fields, preview and send (one use)"
    )
    replaced_envelope_id: str | None = None
