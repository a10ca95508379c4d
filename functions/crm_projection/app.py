"""crm_projection: the CRM's person, deal and user events kept as the projection mail links against."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from dealwire.contracts.crm import (
    CRM_DETAIL_TYPES,
    DealUpserted,
    PersonUpserted,
    ThreadDealChosen,
    UserUpserted,
)
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import crm_projection_settings
from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = crm_projection_settings()  # a missing or malformed setting fails the cold start, by name


@cache
def projection() -> CrmProjection:
    return CrmProjection(settings.table_name)


@cache
def mail() -> MailStore:
    return MailStore(settings.table_name)


class UnsupportedEvent(ValueError):
    """Not a CRM event this function handles: retried, then kept in the failure queue with this message."""


@tracer.capture_method
def apply_event(detail_type: str, detail: dict[str, Any]) -> bool:
    """Apply one CRM event; False when it was older than what the projection holds."""
    model = CRM_DETAIL_TYPES.get(detail_type)
    if model is None:
        raise UnsupportedEvent(f"unsupported detail-type {detail_type!r}")
    event = model.model_validate(detail)  # a ValidationError names the field; the event is kept on failure
    if isinstance(event, PersonUpserted):
        return projection().upsert_person(event)
    if isinstance(event, DealUpserted):
        return projection().upsert_deal(event)
    if isinstance(event, UserUpserted):
        return projection().upsert_user(event)
    if isinstance(event, ThreadDealChosen):
        mail().choose_deal(event.tenant_id, event.thread_id, event.deal_id, event.user_id, event.updated_at)
        return True
    raise UnsupportedEvent(f"unhandled model {type(event).__name__}")


@logger.inject_lambda_context(clear_state=True, correlation_id_path="id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail_type = str(event.get("detail-type", ""))
    detail = event.get("detail") or {}
    logger.append_keys(detail_type=detail_type, tenant_id=detail.get("tenantId"))
    applied = apply_event(detail_type, detail)
    metrics.add_metric(
        name="CrmEventsApplied" if applied else "CrmEventsStale", unit=MetricUnit.Count, value=1
    )
    logger.info("crm event", extra={"applied": applied})
    return {"applied": applied}
