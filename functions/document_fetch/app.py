"""document_fetch: the job queue's worker; signed documents to S3 and envelope refreshes from DocuSign."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from dealwire.contracts.events import FetchDocumentsJob, RefreshEnvelopeJob
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import document_fetch_settings
from dealwire.store.archive import Archive
from dealwire.store.docusign_app import docusign_client_factory
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.jobs import DocuSignJobs

settings = document_fetch_settings()  # a missing or malformed setting fails the cold start, by name
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def jobs() -> DocuSignJobs:
    from dealwire.jobs import DocuSignJobs  # noqa: PLC0415 - imports httpx and pyjwt, needed only here

    return DocuSignJobs(
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        archive=Archive(settings.documents_bucket),
        envelopes=EnvelopeStore(settings.table_name),
        docusign=docusign_client_factory(
            settings.docusign_app_secret, settings.docusign_auth_host, settings.docusign_base_uri or None
        ),
    )


@tracer.capture_method
def run_job(record: SQSRecord) -> None:
    """Run one job; raising leaves the message for SQS to redeliver, then dead-letter."""
    document: dict[str, Any] = json.loads(record.body)
    kind = document.get("kind")
    logger.append_keys(job_kind=kind, envelope_id=document.get("envelopeId"))
    if kind == "fetch_documents":
        result = jobs().fetch_documents(FetchDocumentsJob.model_validate(document))
        metrics.add_metric(name="DocumentDownloads", unit=MetricUnit.Count, value=result.downloads)
        logger.info("documents stored", extra={"outcome": result.outcome, "downloads": result.downloads})
    elif kind == "refresh_envelope":
        applied = jobs().refresh_envelope(RefreshEnvelopeJob.model_validate(document))
        logger.info("envelope refreshed", extra={"fresh_items": applied.fresh, "stale_items": applied.stale})
    else:
        raise ValueError(f"unknown job kind {kind!r}")  # to the dead-letter queue, not dropped
    metrics.add_metric(name="JobsDone", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)
