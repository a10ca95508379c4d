"""Each function's settings: environment variables validated once per container, on first use."""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dealwire.domain.ids import TENANT_ID_PATTERN

if TYPE_CHECKING:
    from collections.abc import Mapping

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


class _Settings(BaseModel):
    # Each function validates one of these models; the schemas of the others are never
    # built (building them all at import was a tenth of the webhook's cold start).
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    # Powertools reads it itself; checked here so a missing one fails the cold start by
    # name rather than every metrics flush.
    metrics_namespace: str = Field(alias="POWERTOOLS_METRICS_NAMESPACE", min_length=1)


class WebhookSettings(_Settings):
    """webhook_docusign."""

    table_name: str = Field(alias="DEALWIRE_TABLE_NAME", pattern=_NAME)
    documents_bucket: str = Field(alias="DEALWIRE_DOCUMENTS_BUCKET", pattern=_NAME)
    tenant_secret_prefix: str = Field(alias="DEALWIRE_TENANT_SECRET_PREFIX", min_length=1)
    default_tenant_id: str = Field(alias="DEALWIRE_DEFAULT_TENANT_ID", pattern=TENANT_ID_PATTERN)
    # Lambda's synchronous payload limit is 6 MB including the event around the body.
    max_body_bytes: int = Field(alias="DEALWIRE_MAX_BODY_BYTES", default=5_000_000, gt=0, le=6_000_000)
    tenant_cache_seconds: int = Field(alias="DEALWIRE_TENANT_CACHE_SECONDS", default=300, ge=0, le=3600)


class DocuSignCallerSettings(_Settings):
    """What every function that calls DocuSign for a tenant needs: the table (its API budget is
    recorded there), the tenants' secrets, and the integration's own."""

    table_name: str = Field(alias="DEALWIRE_TABLE_NAME", pattern=_NAME)
    tenant_secret_prefix: str = Field(alias="DEALWIRE_TENANT_SECRET_PREFIX", min_length=1)
    tenant_cache_seconds: int = Field(alias="DEALWIRE_TENANT_CACHE_SECONDS", default=300, ge=0, le=3600)
    # The integration's own secret: {"integrationKey": ..., "privateKey": "-----BEGIN RSA PRIVATE KEY..."}.
    docusign_app_secret: str = Field(alias="DEALWIRE_DOCUSIGN_APP_SECRET", min_length=1)
    # account-d.docusign.com (demo), account.docusign.com (production), or a URL (the simulator).
    docusign_auth_host: str = Field(alias="DEALWIRE_DOCUSIGN_AUTH_HOST", min_length=1)
    # Empty: the account's base URI from /oauth/userinfo.
    docusign_base_uri: str = Field(alias="DEALWIRE_DOCUSIGN_BASE_URI", default="")


class DocumentFetchSettings(DocuSignCallerSettings):
    """document_fetch: the job queue's worker (signed documents, refreshes)."""

    documents_bucket: str = Field(alias="DEALWIRE_DOCUMENTS_BUCKET", pattern=_NAME)


class StreamPublisherSettings(_Settings):
    """stream_publisher."""

    event_bus_name: str = Field(alias="DEALWIRE_EVENT_BUS_NAME", min_length=1)
    event_source: str = Field(alias="DEALWIRE_EVENT_SOURCE", default="dealwire", min_length=1)
    document_queue_url: str = Field(alias="DEALWIRE_DOCUMENT_QUEUE_URL", pattern=r"^https?://")


class MailIngestSettings(_Settings):
    """mail_ingest: Smart BCC mail from SES receiving."""

    table_name: str = Field(alias="DEALWIRE_TABLE_NAME", pattern=_NAME)
    mail_bucket: str = Field(alias="DEALWIRE_MAIL_BUCKET", pattern=_NAME)
    # SES's S3 action writes <prefix><SES messageId>; the Lambda action's event has no key.
    raw_prefix: str = Field(
        alias="DEALWIRE_MAIL_RAW_PREFIX", default="inbound/", pattern=r"^[A-Za-z0-9_./-]{0,100}$"
    )
    # Smart BCC addresses are <tenantId>[+anything]@<this domain>; empty receives for no one.
    mail_domain: str = Field(alias="DEALWIRE_MAIL_DOMAIN", default="", pattern=r"^$|^[A-Za-z0-9.-]{1,253}$")
    tenant_secret_prefix: str = Field(alias="DEALWIRE_TENANT_SECRET_PREFIX", min_length=1)
    tenant_cache_seconds: int = Field(alias="DEALWIRE_TENANT_CACHE_SECONDS", default=300, ge=0, le=3600)
    max_message_bytes: int = Field(
        alias="DEALWIRE_MAIL_MAX_BYTES", default=40 * 1024 * 1024, gt=0, le=40 * 1024 * 1024
    )
    max_parts: int = Field(alias="DEALWIRE_MAIL_MAX_PARTS", default=500, gt=0, le=5000)
    max_depth: int = Field(alias="DEALWIRE_MAIL_MAX_DEPTH", default=24, gt=0, le=100)
    max_headers: int = Field(alias="DEALWIRE_MAIL_MAX_HEADERS", default=500, gt=0, le=10_000)
    max_header_bytes: int = Field(
        alias="DEALWIRE_MAIL_MAX_HEADER_BYTES", default=64 * 1024, ge=1024, le=1024 * 1024
    )


class CrmProjectionSettings(_Settings):
    """crm_projection: the CRM's person, deal and user events, and deal choices for threads."""

    table_name: str = Field(alias="DEALWIRE_TABLE_NAME", pattern=_NAME)


class ApiSettings(DocuSignCallerSettings):
    """api: the CRM's HTTP API; API Gateway's JWT authorizer has checked the token already.
    Voids, original documents, templates and sends go through DocuSign."""

    documents_bucket: str = Field(alias="DEALWIRE_DOCUMENTS_BUCKET", pattern=_NAME)
    mail_bucket: str = Field(alias="DEALWIRE_MAIL_BUCKET", pattern=_NAME)
    tenant_claim: str = Field(alias="DEALWIRE_TENANT_CLAIM", default="dealwire:tenant", min_length=1)
    user_claim: str = Field(alias="DEALWIRE_USER_CLAIM", default="sub", min_length=1)
    # The claim naming the caller's role, and the role that may change automation rules.
    role_claim: str = Field(alias="DEALWIRE_ROLE_CLAIM", default="dealwire:role", min_length=1)
    admin_role: str = Field(alias="DEALWIRE_ADMIN_ROLE", default="admin", min_length=1)
    # How long a document or attachment link the API hands out stays valid.
    link_seconds: int = Field(alias="DEALWIRE_LINK_SECONDS", default=300, ge=30, le=3600)
    # The secret (name or ARN) holding the key that signs links to packed mail parts.
    part_link_secret: str = Field(alias="DEALWIRE_PART_LINK_SECRET", min_length=1)
    # The HTTP API's public root when it is not the domain a request names (a custom domain
    # with a base path): where the links to packed mail parts point. Empty: the request's.
    public_base_url: str = Field(alias="DEALWIRE_PUBLIC_BASE_URL", default="", pattern=r"^$|^https?://\S+$")


class IntegrationsSettings(_Settings):
    """integrations: connecting tenants to DocuSign; the only function that writes tenants' secrets."""

    table_name: str = Field(alias="DEALWIRE_TABLE_NAME", pattern=_NAME)
    tenant_secret_prefix: str = Field(alias="DEALWIRE_TENANT_SECRET_PREFIX", min_length=1)
    tenant_claim: str = Field(alias="DEALWIRE_TENANT_CLAIM", default="dealwire:tenant", min_length=1)
    user_claim: str = Field(alias="DEALWIRE_USER_CLAIM", default="sub", min_length=1)
    # The claim naming the caller's role, and the role that may connect the account.
    role_claim: str = Field(alias="DEALWIRE_ROLE_CLAIM", default="dealwire:role", min_length=1)
    admin_role: str = Field(alias="DEALWIRE_ADMIN_ROLE", default="admin", min_length=1)
    docusign_app_secret: str = Field(alias="DEALWIRE_DOCUSIGN_APP_SECRET", min_length=1)
    docusign_auth_host: str = Field(alias="DEALWIRE_DOCUSIGN_AUTH_HOST", min_length=1)
    docusign_base_uri: str = Field(alias="DEALWIRE_DOCUSIGN_BASE_URI", default="")
    # Where DocuSign sends the admin back after consent: one of the integration's redirect URIs.
    consent_redirect_uri: str = Field(
        alias="DEALWIRE_DOCUSIGN_CONSENT_REDIRECT_URI", pattern=r"^https?://\S+$"
    )
    # The public root of the webhook (``https://api.example.com``); empty: the API's own domain.
    webhook_base_url: str = Field(alias="DEALWIRE_WEBHOOK_BASE_URL", default="", pattern=r"^$|^https?://\S+$")
    # The stack's customer-managed key for the tenants' secrets it creates; "" is Secrets Manager's own.
    secrets_kms_key_id: str = Field(alias="DEALWIRE_SECRETS_KMS_KEY_ID", default="")


class StageTriggerSettings(DocuSignCallerSettings):
    """stage_trigger: a deal's stage change sends what the tenant's automation rules say."""


class StatusPollSettings(DocuSignCallerSettings):
    """status_poll: the scheduled fan-out over tenants and one reconciliation cycle per tenant."""

    documents_bucket: str = Field(alias="DEALWIRE_DOCUMENTS_BUCKET", pattern=_NAME)
    # Where the fan-out puts one cycle request per tenant (the cycles' queue).
    poll_queue_url: str = Field(alias="DEALWIRE_POLL_QUEUE_URL", min_length=1)
    # listStatusChanges' page (DocuSign's count).
    page_size: int = Field(alias="DEALWIRE_POLL_PAGE_SIZE", default=100, ge=1, le=1000)
    # What the poller leaves of the account's hourly budget for sends, voids and documents.
    reserve_share: float = Field(alias="DEALWIRE_POLL_BUDGET_RESERVE", default=0.2, ge=0.0, lt=1.0)
    # The most calls one cycle makes, whatever is left.
    cycle_cap: int = Field(alias="DEALWIRE_POLL_MAX_CALLS_PER_CYCLE", default=500, ge=1, le=3000)
    # A new tenant's first listing looks back this far.
    first_lookback_hours: int = Field(alias="DEALWIRE_POLL_FIRST_LOOKBACK_HOURS", default=24, ge=1, le=720)
    # The sweep asks about envelopes in flight with no change for this long, a pass this often.
    sweep_quiet_minutes: int = Field(alias="DEALWIRE_POLL_SWEEP_QUIET_MINUTES", default=60, ge=15)
    sweep_every_minutes: int = Field(alias="DEALWIRE_POLL_SWEEP_EVERY_MINUTES", default=360, ge=15)
    # Connect's failure log is read this often.
    failures_every_minutes: int = Field(alias="DEALWIRE_POLL_FAILURES_EVERY_MINUTES", default=60, ge=1)


_S = TypeVar("_S", bound=_Settings)


def load_settings(model: type[_S], environ: Mapping[str, str] | None = None) -> _S:
    """Validate ``model`` from the environment; raise ``SettingsError`` naming what is wrong."""
    source = os.environ if environ is None else environ
    try:
        return model.model_validate(dict(source))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__} is not configured: {problems}") from exc


@cache
def webhook_settings() -> WebhookSettings:
    return load_settings(WebhookSettings)


@cache
def document_fetch_settings() -> DocumentFetchSettings:
    return load_settings(DocumentFetchSettings)


@cache
def stream_publisher_settings() -> StreamPublisherSettings:
    return load_settings(StreamPublisherSettings)


@cache
def mail_ingest_settings() -> MailIngestSettings:
    return load_settings(MailIngestSettings)


@cache
def crm_projection_settings() -> CrmProjectionSettings:
    return load_settings(CrmProjectionSettings)


@cache
def api_settings() -> ApiSettings:
    return load_settings(ApiSettings)


@cache
def integrations_settings() -> IntegrationsSettings:
    return load_settings(IntegrationsSettings)


@cache
def stage_trigger_settings() -> StageTriggerSettings:
    return load_settings(StageTriggerSettings)


@cache
def status_poll_settings() -> StatusPollSettings:
    return load_settings(StatusPollSettings)
