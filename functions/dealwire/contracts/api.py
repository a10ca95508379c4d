"""The CRM API's request and response bodies (camelCase on the wire); docs/openapi.json is made from them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dealwire.contracts.bodies import Body, Request
from dealwire.domain.ids import CRM_ID_PATTERN
from dealwire.domain.linking import LinkState  # noqa: TC001 - pydantic needs it at run time

# -- errors ---------------------------------------------------------------------------------


class ErrorDetail(Body):
    code: str = Field(description="A stable code: not_found, invalid_request, conflict states, ...")
    message: str = Field(description="What went wrong, for a person")


class ErrorBody(Body):
    """Every refusal: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class GatewayMessage(Body):
    """What API Gateway's JWT authorizer answers (401) before the function runs."""

    message: str


# -- deals ----------------------------------------------------------------------------------


class DealSummary(Body):
    """A deal in the tenant's list, as the CRM last published it."""

    deal_id: str
    title: str | None = None
    status: str | None = Field(default=None, description="open, won or lost")
    person_ids: list[str]
    owner_user_id: str | None = None
    updated_at: str | None = None


class DealPage(Body):
    deals: list[DealSummary]
    cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last"
    )


class DealContact(Body):
    person_id: str
    name: str | None = Field(default=None, description="null when the CRM has not published the person")
    emails: list[str]


class DealStage(Body):
    """The last stage change dealwire applied (an older one delivered late changes nothing)."""

    pipeline_id: str | None = None
    stage_id: str | None = None
    changed_at: str | None = None


class AutomationView(Body):
    """One automation rule's signing process for the deal."""

    rule_id: str
    state: Literal["claimed", "sent", "failed"] = Field(
        description="claimed: sending now (or a send interrupted, retried on redelivery); sent; failed"
    )
    envelope_id: str | None = None
    reason: str | None = Field(default=None, description="Why it failed: a stable code")
    reason_detail: str | None = Field(default=None, description="Why it failed, for a person")
    claimed_at: str | None = None
    sent_at: str | None = None
    failed_at: str | None = None
    skipped_at: str | None = Field(
        default=None,
        description="When a later stage event found this process still active and sent nothing",
    )
    warnings: list[str] = Field(default_factory=list, description="What the send left out, e.g. a tab")


class DealView(DealSummary):
    """A deal with its contacts, its stage and what its automation rules did."""

    contacts: list[DealContact]
    stage: DealStage | None = None
    automations: list[AutomationView]


# -- envelopes ------------------------------------------------------------------------------

DocumentKind = Literal["combined", "certificate", "original"]


class Person(Body):
    name: str | None = None
    email: str | None = None


class SentBy(Body):
    """What sent the envelope: an automation rule, or a CRM user (manual send); null when sent elsewhere."""

    rule_id: str | None = None
    user_id: str | None = None


class RecipientView(Body):
    recipient_id: str
    recipient_type: str | None = None
    status: str | None = None
    routing_order: int | None = None
    name: str | None = None
    email: str | None = None
    sent_at: str | None = None
    delivered_at: str | None = None
    signed_at: str | None = None
    declined_at: str | None = None
    decline_reason: str | None = None


class DocumentAvailability(Body):
    kind: DocumentKind
    document_id: str = Field(description="combined, certificate, or DocuSign's document id")
    name: str = ""
    available: bool = Field(description="Whether GET .../documents/{documentId} answers with a link now")
    reason: str | None = Field(default=None, description="Why not, when it is not")


class VoidRequested(Body):
    by: str
    reason: str
    at: str


class EnvelopeSummary(Body):
    """An envelope in a deal's list."""

    envelope_id: str
    deal_id: str | None = None
    status: str | None = None
    subject: str | None = None
    sender: Person
    created_at: str | None = None
    sent_at: str | None = None
    completed_at: str | None = None
    status_changed_at: str | None = None


class EnvelopeView(EnvelopeSummary):
    """The tracker of one envelope: "signed / signers" and every recipient in routing order."""

    sent_by: SentBy
    delivered_at: str | None = None
    declined_at: str | None = None
    voided_at: str | None = None
    voided_reason: str | None = None
    expires_at: str | None = None
    signed: int = Field(description="Signers who have signed")
    signers: int = Field(description="Recipients whose action is a signature")
    progress: str = Field(description='"1/2 signed"')
    recipients: list[RecipientView]
    documents: list[DocumentAvailability]
    void_requested: VoidRequested | None = None
    last_change_source: str | None = Field(
        default=None,
        description="What brought the last change dealwire recorded: connect (a callback), poll (the status "
        "poller found it: Connect had not delivered it), refresh, replay, send",
    )


class EnvelopePage(Body):
    envelopes: list[EnvelopeSummary]
    cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last"
    )


class DocumentLink(Body):
    """``?redirect=false``: the short-lived link instead of a redirect to it."""

    kind: DocumentKind
    document_id: str
    url: str
    expires_in: int = Field(description="Seconds the link is valid for")


class VoidRequest(Request):
    """``POST /v1/envelopes/{envelopeId}/void``."""

    reason: str = Field(
        min_length=1, max_length=200, description="Shown to the recipients (DocuSign's limit: 200)"
    )


class VoidAccepted(Body):
    envelope_id: str
    status: Literal["void_requested"] = "void_requested"
    reason: str
    requested_by: str
    requested_at: str


# -- threads --------------------------------------------------------------------------------


class DealChoice(Request):
    """``POST /v1/threads/{threadId}/deal``."""

    deal_id: str = Field(pattern=CRM_ID_PATTERN)


class DealChosen(Body):
    thread_id: str
    deal_id: str
    link_state: LinkState


class Participant(Body):
    email: str
    name: str = ""


class PartView(Body):
    role: str = Field(description="text, html (the message's bodies), attachment or inline")
    size: int
    sha256: str
    content_type: str
    filename: str | None = None
    url: str = Field(description="A short-lived link to the part's bytes")


class MessageView(Body):
    message_key: str
    message_id: str | None = None
    kind: Literal["bcc", "forward"]
    from_: list[Participant] = Field(alias="from")
    to: list[Participant]
    cc: list[Participant]
    subject: str | None = None
    sent_at: str | None = None
    owner_user_id: str | None = None
    sharing: Literal["private", "shared"]
    snippet: str | None = None
    parts: list[PartView]


class ThreadSummary(Body):
    thread_id: str
    subject: str | None = None
    link_state: LinkState
    contact_ids: list[str]
    deal_id: str | None = None
    candidate_deal_ids: list[str]
    message_count: int
    started_at: str | None = None
    last_message_at: str | None = None


class ThreadPage(Body):
    """``GET /v1/threads/{threadId}``: the thread and one page of the messages the caller may see."""

    thread: ThreadSummary
    messages: list[MessageView]
    cursor: str | None = None


class ThreadList(Body):
    """A deal's or a contact's threads the caller may see, newest first."""

    threads: list[ThreadSummary]
    cursor: str | None = None
