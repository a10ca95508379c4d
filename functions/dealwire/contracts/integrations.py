"""The integrations API's bodies: connecting a tenant to DocuSign, its health, a key rotation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dealwire.contracts.bodies import Body, Request

GUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
Severity = Literal["error", "warning", "info"]


class ConsentStarted(Body):
    """``POST /v1/integrations/docusign``: where to send the admin, and the state to come back with."""

    consent_url: str = Field(description="DocuSign's consent page for the JWT grant (impersonation)")
    state: str = Field(description="One-time: pass it to .../complete once DocuSign redirected back")
    expires_at: str = Field(description="When the state stops being accepted (15 minutes)")


class CompleteRequest(Request):
    """``POST /v1/integrations/docusign/complete``."""

    state: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    user_id: str = Field(pattern=GUID, description="The DocuSign user who consented (their API user id)")
    account_id: str | None = Field(
        default=None, pattern=GUID, description="The DocuSign account; the user's default when left out"
    )


class Finding(Body):
    """One thing the settings page should show, with what to do about it."""

    code: str
    severity: Severity
    message: str
    action: str
    consent_url: str | None = None


class KeyView(Body):
    """An HMAC key as the tenant's secret holds it (never the key itself)."""

    key_id: str | None = Field(description="DocuSign's id; null for a key stored by hand")
    state: Literal["active", "new"]
    added_at: str | None = None
    known_to_docusign: bool | None = Field(
        default=None, description="Whether DocuSign lists it (null when DocuSign could not be asked)"
    )


class RotationView(Body):
    new_key_id: str
    started_at: str
    started_by: str
    verified_at: str | None = Field(default=None, description="When a callback was first verified with it")


class BudgetView(Body):
    """The account's hourly API budget, as DocuSign's last answer reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: str | None = None


class FailureView(Body):
    envelope_id: str | None = None
    created: str | None = None
    error: str | None = None
    retry_count: str | None = None


class PollView(Body):
    """The status poller's last cycle for the account (docs: README, Reconciliation)."""

    outcome: str = Field(
        description="done, budget_low, out_of_time, busy, docusign_refused, docusign_unavailable"
    )
    started_at: str
    calls: int = Field(description="DocuSign calls the cycle made")
    reconciled: int = Field(description="Envelope changes it found that no Connect callback had brought")
    budget_remaining: int | None = None
    detail: str = ""


class IntegrationStatus(Body):
    """``GET /v1/integrations/docusign``: the health check a settings page shows."""

    tenant_id: str
    state: Literal["connected", "needs_attention", "not_connected"]
    account_id: str | None = None
    docusign_user_id: str | None = None
    base_uri: str | None = None
    connect_configuration_id: str | None = None
    webhook_url: str | None = Field(default=None, description="Where this tenant's callbacks must go")
    connected_at: str | None = None
    connected_by: str | None = None
    last_callback_at: str | None = None
    keys: list[KeyView] = Field(default_factory=list)
    rotation: RotationView | None = None
    api_budget: BudgetView | None = None
    recent_failures: list[FailureView] = Field(default_factory=list)
    last_poll: PollView | None = None
    findings: list[Finding] = Field(default_factory=list)


class RotationStarted(Body):
    """``POST /v1/integrations/docusign/rotate-key``."""

    new_key_id: str
    started_at: str
    message: str


class Disconnected(Body):
    """``DELETE /v1/integrations/docusign``."""

    tenant_id: str
    disconnected_at: str
    configuration_deleted: bool
    keys_deleted: int
