"""crm_projection: the CRM's person, deal and user events kept as the projection mail links against."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from dealwire.observability import logger, metrics, tracer
from dealwire.projection import CrmEvents
from dealwire.settings import crm_projection_settings
from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def crm_events() -> CrmEvents:
    """Built on the first event; a missing or malformed setting fails it, by name."""
    table = crm_projection_settings().table_name
    return CrmEvents(CrmProjection(table), MailStore(table))


@logger.inject_lambda_context(clear_state=True, correlation_id_path="id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail_type = str(event.get("detail-type", ""))
    raw = event.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    logger.append_keys(detail_type=detail_type, tenant_id=detail.get("tenantId"))
    applied = crm_events().apply(detail_type, detail)
    metrics.add_metric(
        name="CrmEventsApplied" if applied else "CrmEventsStale", unit=MetricUnit.Count, value=1
    )
    logger.info("crm event", extra={"applied": applied})
    return {"applied": applied}
