"""document_fetch: the job queue's worker; signed documents to S3 and envelope refreshes from DocuSign."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from dealwire.observability import logger, metrics, tracer
from dealwire.settings import document_fetch_settings
from dealwire.store.archive import Archive
from dealwire.store.docusign_app import DocuSignAccess, spending_access
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.envelope_jobs import EnvelopeJobs

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def envelope_jobs() -> EnvelopeJobs:
    """Built on the first job; a missing or malformed setting fails it, by name."""
    from dealwire.envelope_jobs import EnvelopeJobs  # noqa: PLC0415 - imports httpx and pyjwt, needed only here

    settings = document_fetch_settings()
    return EnvelopeJobs(
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        archive=Archive(settings.documents_bucket),
        envelopes=EnvelopeStore(settings.table_name),
        docusign=docusign_access().for_tenant,
    )


@cache
def docusign_access() -> DocuSignAccess:
    """The jobs' DocuSign clients; what they spend goes in each tenant's hourly budget."""
    return spending_access(document_fetch_settings(), "documents")


# Kept back from DocuSign for what follows its last call: the S3 writes and the record.
RESERVE_SECONDS = 10.0


@tracer.capture_method
def run_job(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Run one job; raising leaves the message for SQS to redeliver, then dead-letter."""
    document: dict[str, Any] = json.loads(record.body)
    logger.append_keys(job_kind=document.get("kind"), envelope_id=document.get("envelopeId"))

    def remaining() -> float:
        return lambda_context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS

    try:
        done = envelope_jobs().run(document, remaining=remaining)
    finally:
        for problem in docusign_access().settle():
            logger.warning("the API budget was not recorded", extra={"problem": problem})
    metrics.add_metric(name="DocumentDownloads", unit=MetricUnit.Count, value=done.downloads)
    metrics.add_metric(name="JobsDone", unit=MetricUnit.Count, value=1)
    logger.info("job done", extra={"kind": done.kind, "downloads": done.downloads, **done.details})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)
