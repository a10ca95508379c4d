"""mail_ingest: Smart BCC mail from SES receiving (or an S3 re-drive) filed as threads."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from dealwire.mail.deliveries import delivery_of_record, records_of
from dealwire.mail.ingest import MailIngest
from dealwire.mail.limits import MailLimits
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import mail_ingest_settings
from dealwire.store.archive import Archive
from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.mail.ingest import Outcome


@cache
def ingest() -> MailIngest:
    """Built on the first delivery; a missing or malformed setting fails it, by name."""
    settings = mail_ingest_settings()
    return MailIngest(
        mail=MailStore(settings.table_name),
        crm=CrmProjection(settings.table_name),
        archive=Archive(settings.mail_bucket),
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        mail_domain=settings.mail_domain,
        limits=MailLimits(
            max_message_bytes=settings.max_message_bytes,
            max_parts=settings.max_parts,
            max_depth=settings.max_depth,
            max_headers=settings.max_headers,
            max_header_bytes=settings.max_header_bytes,
        ),
    )


@tracer.capture_method
def file_record(record: dict[str, Any]) -> list[Outcome]:
    settings = mail_ingest_settings()
    found = delivery_of_record(record, raw_prefix=settings.raw_prefix, mail_bucket=settings.mail_bucket)
    logger.append_keys(ses_message_id=found.ses_message_id, raw_key=found.key)
    return ingest().ingest(
        found.key, found.delivery, ses_message_id=found.ses_message_id, received_at=found.received_at
    )


def _report(outcome: Outcome) -> None:
    metrics.add_metric(name=f"Mail{outcome.status.capitalize()}", unit=MetricUnit.Count, value=1)
    if outcome.status in {"rejected", "dropped"}:
        # One metric with the reason as a dimension, as the webhook counts its refusals.
        with single_metric(
            name="MailRefused", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="reason", value=str(outcome.reason))
        logger.warning(
            "mail refused",
            extra={"tenant_id": outcome.tenant_id, "reason": outcome.reason, "detail": outcome.detail},
        )
    else:
        logger.info(
            "mail filed",
            extra={
                "tenant_id": outcome.tenant_id,
                "status": outcome.status,
                "thread_id": outcome.thread_id,
                "link_state": outcome.link_state,
            },
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Invoked asynchronously: an exception is retried by Lambda, then sent to the failure queue."""
    outcomes = [outcome for record in records_of(event) for outcome in file_record(record)]
    for outcome in outcomes:
        _report(outcome)
    return {
        "outcomes": [
            {"status": o.status, "tenantId": o.tenant_id, "reason": o.reason, "threadId": o.thread_id}
            for o in outcomes
        ]
    }
