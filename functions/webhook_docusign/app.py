"""webhook_docusign: DocuSign Connect callbacks in, one archive put and one state write out."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from dealwire.connect.receiver import ConnectReceiver, WebhookRequest
from dealwire.contracts.errors import ConnectRefusal, MalformedPayload
from dealwire.domain.timestamps import canonical_timestamp
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import webhook_settings
from dealwire.store.archive import Archive
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = webhook_settings()  # a missing or malformed setting fails the cold start, by name
app = APIGatewayHttpResolver()


@cache
def receiver() -> ConnectReceiver:
    return ConnectReceiver(
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        archive=Archive(settings.documents_bucket),
        envelopes=EnvelopeStore(settings.table_name),
        max_body_bytes=settings.max_body_bytes,
    )


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.post("/webhooks/docusign")
def default_tenant() -> Response[str]:
    return _receive(settings.default_tenant_id)


@app.post("/webhooks/docusign/<tenant_id>")
def tenant_webhook(tenant_id: str) -> Response[str]:
    return _receive(tenant_id)


def _raw_body() -> bytes:
    """The body byte-for-byte as DocuSign sent it: the HMAC is over these bytes."""
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedPayload("isBase64Encoded is set but the body is not base64") from exc


def _receive(tenant_id: str) -> Response[str]:
    logger.append_keys(tenant_id=tenant_id)
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=1)
    request = WebhookRequest(
        tenant_id=tenant_id,
        body=_raw_body(),
        headers={name.lower(): value for name, value in (app.current_event.headers or {}).items()},
        received_at=canonical_timestamp(datetime.now(UTC).isoformat()),
    )
    receipt = receiver().receive(request)
    logger.set_correlation_id(receipt.envelope_id)
    outcome = "applied" if receipt.applied else "stale"
    metrics.add_metric(
        name="EventsApplied" if receipt.applied else "EventsStale", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "connect event recorded",
        extra={
            "event": receipt.event,
            "wire_format": receipt.wire_format,
            "outcome": outcome,
            "fresh_items": receipt.fresh,
            "stale_items": receipt.stale,
            "documents": receipt.documents,
            "archive_key": receipt.archive_key,
        },
    )
    return _json(200, {"status": outcome, "envelopeId": receipt.envelope_id, "event": receipt.event})


@app.exception_handler(ConnectRefusal)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def refused(refusal: ConnectRefusal) -> Response[str]:
    with single_metric(
        name="EventsRejected", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="reason", value=refusal.reason)
    logger.warning("connect event refused", extra={"reason": refusal.reason, "detail": refusal.detail})
    return _json(refusal.status, {"error": refusal.reason, "message": refusal.message})


@app.not_found
def no_route(_: Exception) -> Response[str]:
    return _json(
        404, {"error": "not_found", "message": "POST /webhooks/docusign or /webhooks/docusign/{tenantId}"}
    )


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def failed(error: Exception) -> Response[str]:
    # Nothing acknowledged: DocuSign retries a 5xx, and whatever was written is idempotent.
    logger.exception("connect event failed", extra={"error": type(error).__name__})
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=1)
    return _json(500, {"error": "internal", "message": "the event was not recorded; DocuSign will retry"})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
