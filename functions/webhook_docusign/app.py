"""webhook_docusign: DocuSign Connect callbacks in, one archive put and one state write out."""

from __future__ import annotations

import base64
import binascii
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from dealwire.contracts.errors import ConnectRefusal, MalformedPayload, UnreadablePayload
from dealwire.domain.timestamps import canonical_now
from dealwire.http import error_response, json_response, register_fallbacks
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import webhook_settings
from dealwire.store.archive import Archive
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.integrations import CallbackHeartbeat, IntegrationStore
from dealwire.store.tenants import TenantDirectory
from dealwire.webhook.receiver import ConnectReceiver, WebhookRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayHttpResolver()


@cache
def receiver() -> ConnectReceiver:
    """Built on the first request; a missing or malformed setting fails it, by name."""
    settings = webhook_settings()
    return ConnectReceiver(
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        archive=Archive(settings.documents_bucket),
        envelopes=EnvelopeStore(settings.table_name),
        max_body_bytes=settings.max_body_bytes,
        heartbeat=CallbackHeartbeat(IntegrationStore(settings.table_name)),
    )


@app.post("/webhooks/docusign")
def default_tenant() -> Response[str]:
    return _receive(webhook_settings().default_tenant_id)


@app.post("/webhooks/docusign/<tenant_id>")
def tenant_webhook(tenant_id: str) -> Response[str]:
    return _receive(tenant_id)


def _raw_body() -> bytes:
    """The body byte-for-byte as DocuSign sent it: the HMAC is over these bytes."""
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return _utf8(body)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedPayload("isBase64Encoded is set but the body is not base64") from exc


def _utf8(text: str) -> bytes:
    """The text's bytes; a string no UTF-8 could have produced (lone surrogates) still gets
    bytes, so its signature fails with a 401 instead of the encoding with a 500."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


def _receive(tenant_id: str) -> Response[str]:
    logger.append_keys(tenant_id=tenant_id)
    request = WebhookRequest(
        tenant_id=tenant_id,
        body=_raw_body(),
        headers={name.lower(): value for name, value in (app.current_event.headers or {}).items()},
        received_at=canonical_now(),
    )
    recorded = receiver().receive(request)
    logger.set_correlation_id(recorded.envelope_id)
    outcome = "applied" if recorded.applied else "stale"
    metrics.add_metric(
        name="EventsApplied" if recorded.applied else "EventsStale", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "connect event recorded",
        extra={
            "event": recorded.event,
            "wire_format": recorded.wire_format,
            "outcome": outcome,
            "fresh_items": recorded.fresh,
            "stale_items": recorded.stale,
            "documents": recorded.documents,
            "archive_key": recorded.archive_key,
            "heartbeat": recorded.heartbeat,
        },
    )
    if recorded.heartbeat == "failed":
        # The callback is recorded; only the settings page's "last callback" lags behind.
        metrics.add_metric(name="HeartbeatsFailed", unit=MetricUnit.Count, value=1)
    elif recorded.heartbeat == "new_key_verified":
        logger.info("a rotation's new HMAC key verified a callback")
    return json_response(
        200, {"status": outcome, "envelopeId": recorded.envelope_id, "event": recorded.event}
    )


@app.exception_handler(ConnectRefusal)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def refused(refusal: ConnectRefusal) -> Response[str]:
    with single_metric(
        name="EventsRejected", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="reason", value=refusal.reason)
    # An authentic body nothing foresaw is a bug to look at; the rest is the sender's.
    log = logger.error if isinstance(refusal, UnreadablePayload) else logger.warning
    log("connect event refused", extra={"reason": refusal.reason, "detail": refusal.detail})
    return error_response(refusal.status, refusal.reason, refusal.message)


# Nothing acknowledged on a 500: DocuSign retries it, and whatever was written is idempotent.
register_fallbacks(
    app,
    routes="POST /webhooks/docusign or /webhooks/docusign/{tenantId}",
    failed="the event was not recorded; DocuSign will retry",
    metric="EventsFailed",
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
