"""mail_ingest: Smart BCC mail from SES receiving (or an S3 re-drive) filed as threads."""

from __future__ import annotations

import urllib.parse
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from dealwire.contracts.ses import Receipt, SesRecord
from dealwire.mail.ingest import MailIngest
from dealwire.mail.limits import MailLimits
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import mail_ingest_settings
from dealwire.store.archive import Archive
from dealwire.store.mail import MailStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.mail.ingest import Outcome

settings = mail_ingest_settings()  # a missing or malformed setting fails the cold start, by name


@cache
def ingest() -> MailIngest:
    return MailIngest(
        store=MailStore(settings.table_name),
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


class UnsupportedRecord(ValueError):
    """Neither an SES receipt nor an S3 object in the mail bucket: retried, then the failure queue."""


@tracer.capture_method
def file_record(record: dict[str, Any]) -> list[Outcome]:
    source = record.get("eventSource")
    if source == "aws:ses":
        ses = SesRecord.model_validate(record)
        logger.append_keys(ses_message_id=ses.ses.mail.message_id)
        return ingest().ingest(
            settings.raw_prefix + ses.ses.mail.message_id,
            Receipt.of(ses),
            ses_message_id=ses.ses.mail.message_id,
            received_at=ses.ses.receipt.timestamp or ses.ses.mail.timestamp,
        )
    if source == "aws:s3" and str(record.get("eventName", "")).startswith("ObjectCreated"):
        bucket = record.get("s3", {}).get("bucket", {}).get("name")
        if bucket != settings.mail_bucket:
            raise UnsupportedRecord(f"object in bucket {bucket!r}, not the mail bucket")
        # S3 event keys are URL-encoded, spaces as '+'.
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        ses_message_id = key.rsplit("/", 1)[-1]
        logger.append_keys(ses_message_id=ses_message_id, redrive_key=key)
        return ingest().ingest(
            key, None, ses_message_id=ses_message_id, received_at=str(record.get("eventTime", ""))
        )
    raise UnsupportedRecord(f"unsupported record from {source!r}")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Invoked asynchronously: an exception is retried by Lambda, then sent to the failure queue."""
    outcomes = [outcome for record in event.get("Records", []) for outcome in file_record(record)]
    for outcome in outcomes:
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
    return {
        "outcomes": [
            {"status": o.status, "tenantId": o.tenant_id, "reason": o.reason, "threadId": o.thread_id}
            for o in outcomes
        ]
    }
