"""Events dealwire publishes on the bus, and the jobs it queues. Documented in docs/events.md.

``eventId`` / ``jobId`` are stable across redeliveries of the same change (they derive
from the item's order key), so consumers deduplicate on them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Contract(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class StoredDocument(_Contract):
    document_id: str = Field(description="DocuSign's document id, or combined / certificate")
    key: str
    sha256: str
    size: int
    name: str = ""
    kind: str = "content"


class EnvelopeStatusChanged(_Contract):
    """detail-type ``envelope.status_changed``."""

    event_id: str
    tenant_id: str
    account_id: str
    envelope_id: str
    deal_id: str | None = None
    status: str
    previous_status: str | None = None
    changed_at: str
    docusign_event: str | None = None
    subject: str | None = None
    source: str | None = Field(
        default=None,
        description="what brought the change: connect, poll (Connect had not), refresh, replay, send",
    )


class EnvelopeCompleted(_Contract):
    """detail-type ``envelope.completed``."""

    event_id: str
    tenant_id: str
    account_id: str
    envelope_id: str
    deal_id: str | None = None
    completed_at: str
    subject: str | None = None
    source: str | None = Field(
        default=None, description="what brought the completion (as envelope.status_changed)"
    )


class EnvelopeDocumentsStored(_Contract):
    """detail-type ``envelope.documents_stored``: the signed PDF and certificate are in S3."""

    event_id: str
    tenant_id: str
    account_id: str
    envelope_id: str
    deal_id: str | None = None
    # "stored"; "combined_not_allowed" when the account forbids the combined PDF and the
    # documents were stored one by one.
    outcome: str
    documents: list[StoredDocument]


class RecipientStatusChanged(_Contract):
    """detail-type ``envelope.recipient_status_changed``."""

    event_id: str
    tenant_id: str
    envelope_id: str
    recipient_id: str
    recipient_type: str | None = None
    routing_order: int | None = None
    name: str | None = None
    email: str | None = None
    status: str
    previous_status: str | None = None
    changed_at: str
    decline_reason: str | None = None


class MailThreadLinked(_Contract):
    """detail-type ``mail.thread_linked``: a thread's contacts or deal changed."""

    event_id: str
    tenant_id: str
    thread_id: str
    subject: str | None = None
    link_state: Literal["linked", "needs_deal_choice", "unlinked"]
    contact_ids: list[str]
    deal_id: str | None = None
    deal_chosen: bool = False
    message_count: int
    last_message_at: str | None = None


class MailNeedsDealChoice(_Contract):
    """detail-type ``mail.needs_deal_choice``: the thread's contacts have several open deals."""

    event_id: str
    tenant_id: str
    thread_id: str
    subject: str | None = None
    contact_ids: list[str]
    candidate_deal_ids: list[str]


class MailRejected(_Contract):
    """detail-type ``mail.rejected``: a delivery to the account's Smart BCC address was refused."""

    event_id: str
    tenant_id: str
    ses_message_id: str
    # sender_not_allowed, sender_not_trusted, no_sender, ambiguous_sender, message_too_large, too_many_parts,
    # too_deep, too_many_headers, header_too_long, headers_too_large, unparseable, empty
    reason: str
    detail: str
    sender: str | None = None
    received_at: str


class IntegrationKeyVerified(_Contract):
    """detail-type ``integration.key_verified``: a rotation's new HMAC key verified a callback.

    dealwire's integrations function ends the rotation on it (the old key is deleted at
    DocuSign and in the tenant's secret); a settings page may refresh its health check.
    """

    event_id: str
    tenant_id: str
    key_id: str
    verified_at: str


class AutomationEnvelopeSent(_Contract):
    """detail-type ``automation.envelope_sent``: a rule sent its document for a deal's stage change."""

    event_id: str
    tenant_id: str
    deal_id: str
    rule_id: str
    document_type: str
    template_id: str
    send_id: str
    envelope_id: str
    sent_at: str
    draft: bool = False
    # Who was left out, which roles stayed empty: the send went ahead.
    warnings: list[str] = Field(default_factory=list)


class AutomationFailed(_Contract):
    """detail-type ``automation.failed``: a rule could not send; nothing was sent.

    ``reason``: template_not_found, template_has_no_roles, template_has_no_documents,
    role_not_in_template, no_contact_with_email, no_contact_with_phone,
    merge_field_unresolved, sender_not_connected (``detail`` carries the consent URL).
    """

    event_id: str
    tenant_id: str
    deal_id: str
    rule_id: str
    document_type: str
    send_id: str
    reason: str
    detail: str
    failed_at: str


class AutomationSkipped(_Contract):
    """detail-type ``automation.skipped``: a rule's signing process is still active for the deal."""

    event_id: str
    tenant_id: str
    deal_id: str
    rule_id: str
    document_type: str
    send_id: str = Field(description="The send that was not made")
    active_send_id: str
    active_envelope_id: str | None = None
    skipped_at: str


class FetchDocumentsJob(_Contract):
    """Queue message: store the signed PDF and certificate of a completed envelope."""

    kind: Literal["fetch_documents"] = "fetch_documents"
    job_id: str
    tenant_id: str
    account_id: str
    envelope_id: str
    completed_at: str
    # Documents Connect already delivered (and the webhook stored); the job skips these.
    connect_documents: list[StoredDocument] = Field(default_factory=list)


class RefreshEnvelopeJob(_Contract):
    """Queue message: read the envelope from the API; a minimal Connect message said too little."""

    kind: Literal["refresh_envelope"] = "refresh_envelope"
    job_id: str
    tenant_id: str
    account_id: str
    envelope_id: str
    requested_at: str | None = None


DETAIL_TYPES: dict[str, type[_Contract]] = {
    "envelope.status_changed": EnvelopeStatusChanged,
    "envelope.completed": EnvelopeCompleted,
    "envelope.documents_stored": EnvelopeDocumentsStored,
    "envelope.recipient_status_changed": RecipientStatusChanged,
    "mail.thread_linked": MailThreadLinked,
    "mail.needs_deal_choice": MailNeedsDealChoice,
    "mail.rejected": MailRejected,
    "integration.key_verified": IntegrationKeyVerified,
    "automation.envelope_sent": AutomationEnvelopeSent,
    "automation.failed": AutomationFailed,
    "automation.skipped": AutomationSkipped,
}


class PollCycleRequest(_Contract):
    """A message on the poll queue: run one reconciliation cycle for the tenant (the fan-out queues them)."""

    kind: Literal["poll_cycle"] = "poll_cycle"
    tenant_id: str
    scheduled_at: str = Field(description="when the schedule fired (or the operator asked)")


JOB_KINDS: dict[str, type[_Contract]] = {
    "fetch_documents": FetchDocumentsJob,
    "refresh_envelope": RefreshEnvelopeJob,
}
