"""integrations: an admin connects the tenant to DocuSign; the one function that writes tenants' secrets.

Two kinds of event reach it. The CRM API's ``/v1/integrations/docusign`` routes (API
Gateway's JWT authorizer has verified the token; the caller must hold the admin role)
start and complete the consent, show the health check, rotate the HMAC key and
disconnect. The bus's ``integration.key_verified`` (a callback proved a rotation's new
key) ends that rotation: the old key is deleted at DocuSign and in the secret.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from dealwire.api.resolver import answers, caller, crm_resolver, require_active_user, require_role
from dealwire.contracts.events import IntegrationKeyVerified  # noqa: TC001 - pydantic reads it at run time
from dealwire.contracts.integrations import (  # noqa: TC001 - Powertools reads the routes' annotations
    CompleteRequest,
    ConsentStarted,
    Disconnected,
    IntegrationStatus,
    RotationStarted,
)
from dealwire.http import json_body_refusal
from dealwire.integration.configuration import webhook_url
from dealwire.integration.connection import DocuSignConnection
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import integrations_settings
from dealwire.store.crm import CrmProjection

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = crm_resolver(failed_metric="IntegrationsFailed", throttled_metric="IntegrationsThrottled")

# The health check has nothing to count; Powertools would warn on every one.
warnings.filterwarnings("ignore", "No application metrics to publish*")

_TAGS = ["integrations"]
KEY_VERIFIED = "integration.key_verified"


class KeyVerifiedEvent(EventBridgeModel):
    """The bus's ``integration.key_verified``, as EventBridge delivers it."""

    detail: IntegrationKeyVerified


@cache
def connection() -> DocuSignConnection:
    """Built on the first event; a missing or malformed setting fails it, by name."""
    return DocuSignConnection.from_settings(integrations_settings())


@cache
def users() -> CrmProjection:
    return CrmProjection(integrations_settings().table_name)


def _admin() -> tuple[str, str]:
    """(tenant, user) of a caller who holds the admin role and is an active user of the tenant."""
    settings = integrations_settings()
    tenant, user = caller(app, settings.tenant_claim, settings.user_claim)
    require_role(app, settings.role_claim, settings.admin_role, "connecting DocuSign")
    require_active_user(users(), tenant, user)
    logger.append_keys(tenant_id=tenant, user_id=user)
    return tenant, user


def _webhook_url(tenant_id: str) -> str:
    """The tenant's webhook: the configured public root, else the domain this request came in on."""
    base = (
        integrations_settings().webhook_base_url or f"https://{app.current_event.request_context.domain_name}"
    )
    return webhook_url(base, tenant_id)


_ADMIN = (
    " Only a tenant admin may (the token's `dealwire:role` claim is `admin`, and the user is an "
    "active user of the account)."
)


@app.post(
    "/v1/integrations/docusign",
    summary="Start connecting DocuSign",
    description=(
        "Answers DocuSign's consent page for the JWT grant (scopes `signature impersonation`) and a "
        "one-time state; send the admin there, then call `.../complete` with the state and the "
        f"DocuSign user id once DocuSign redirected back.{_ADMIN}"
    ),
    responses=answers("Where to consent", docusign=True),
    tags=_TAGS,
)
def start() -> ConsentStarted:
    tenant, user = _admin()
    started = connection().start(tenant, user)
    metrics.add_metric(name="ConsentsStarted", unit=MetricUnit.Count, value=1)
    logger.info("consent started")
    return started


@app.post(
    "/v1/integrations/docusign/complete",
    summary="Finish connecting DocuSign",
    description=(
        "Proves the grant works, reads the user's accounts, records the account, has DocuSign "
        "generate the HMAC key (stored in the tenant's secret, never shown) and creates or "
        f"repairs the account's Connect configuration. Answers the health check.{_ADMIN}"
    ),
    responses=answers("Connected: the health check", docusign=True, body=True),
    tags=_TAGS,
)
def complete(request: Annotated[CompleteRequest, Body()]) -> IntegrationStatus:
    tenant, user = _admin()
    status = connection().complete(tenant, user, request, _webhook_url(tenant))
    metrics.add_metric(name="TenantsConnected", unit=MetricUnit.Count, value=1)
    logger.info("connected", extra={"account_id": status.account_id, "state": status.state})
    return status


@app.get(
    "/v1/integrations/docusign",
    summary="The DocuSign connection's health",
    description=(
        "What a settings page shows: consent, the Connect configuration (URL, format, events, "
        "enabled), the HMAC keys in use, the last callback, recent Connect delivery failures and "
        f"the account's API budget. Each problem is a finding that says what to do.{_ADMIN}"
    ),
    responses=answers("The health check"),
    tags=_TAGS,
)
def status() -> IntegrationStatus:
    tenant, _ = _admin()
    return connection().status(tenant, _webhook_url(tenant))


@app.post(
    "/v1/integrations/docusign/rotate-key",
    summary="Rotate the HMAC key",
    description=(
        "DocuSign generates a second key and signs with both; once a callback is verified with the "
        f"new one, the old one is deleted at DocuSign and in the secret. No callback is refused.{_ADMIN}"
    ),
    responses=answers("The rotation started", docusign=True),
    tags=_TAGS,
)
def rotate_key() -> RotationStarted:
    tenant, user = _admin()
    started = connection().rotate_key(tenant, user)
    metrics.add_metric(name="KeyRotationsStarted", unit=MetricUnit.Count, value=1)
    logger.info("key rotation started", extra={"key_id": started.new_key_id})
    return started


@app.delete(
    "/v1/integrations/docusign",
    summary="Disconnect DocuSign",
    description=(
        "Deletes dealwire's Connect configuration and its HMAC keys at DocuSign and in the secret. "
        f"The tenant's envelopes, documents and threads stay.{_ADMIN}"
    ),
    responses=answers("Disconnected", docusign=True),
    tags=_TAGS,
)
def disconnect() -> Disconnected:
    tenant, user = _admin()
    done = connection().disconnect(tenant, user, _webhook_url(tenant))
    metrics.add_metric(name="TenantsDisconnected", unit=MetricUnit.Count, value=1)
    logger.info("disconnected", extra=done.model_dump(mode="json"))
    return done


def key_verified(event: dict[str, Any]) -> dict[str, Any]:
    """End a rotation; a refusal (another change holds the lease) raises, so EventBridge retries."""
    verified = KeyVerifiedEvent.model_validate(event).detail
    logger.append_keys(tenant_id=verified.tenant_id, key_id=verified.key_id)
    finished = connection().finish_rotation(verified.tenant_id, verified.key_id)
    metrics.add_metric(
        name="KeyRotationsFinished" if finished else "KeyVerificationsIgnored", unit=MetricUnit.Count, value=1
    )
    logger.info("key verified", extra={"rotation_finished": finished})
    return {"finished": finished}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "detail-type" in event:
        if event["detail-type"] != KEY_VERIFIED:
            raise ValueError(f"integrations takes {KEY_VERIFIED} from the bus, not {event['detail-type']!r}")
        return key_verified(event)
    return json_body_refusal(event) or app.resolve(event, context)
