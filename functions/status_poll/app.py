"""status_poll: reconcile envelopes whose Connect callbacks were lost, within DocuSign's polling rules.

Two handlers. ``schedule_handler``: EventBridge Scheduler fires it (every 15 minutes by
default); it queues one cycle request per tenant, so one slow account holds no other.
``lambda_handler``: the queue's worker runs one cycle per request (``dealwire.polling``);
a DocuSign outage fails the record, which SQS retries and in the end dead-letters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dealwire.contracts.events import PollCycleRequest
from dealwire.domain.ids import TENANT_ID_PATTERN
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import status_poll_settings
from dealwire.store.job_queue import JobQueue
from dealwire.store.tenants import tenant_ids

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.polling.cycle import CycleReport, StatusPoll

processor = BatchProcessor(event_type=EventType.SQS)
TenantId = Annotated[str, Field(pattern=TENANT_ID_PATTERN)]


class ScheduledPoll(BaseModel):
    """The schedule's input (template.yaml); an operator may name tenants to poll only them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    tenant_ids: list[TenantId] = Field(default_factory=list, max_length=1000)


@cache
def status_poll() -> StatusPoll:
    """Built on the first cycle; a missing or malformed setting fails it, by name."""
    from dealwire.envelope_reads import EnvelopeReads  # noqa: PLC0415 - with httpx, only for cycles
    from dealwire.polling.cycle import PollRules, StatusPoll  # noqa: PLC0415
    from dealwire.store.archive import Archive  # noqa: PLC0415
    from dealwire.store.budget import BudgetStore  # noqa: PLC0415
    from dealwire.store.docusign_app import docusign_client_factory  # noqa: PLC0415
    from dealwire.store.envelopes import EnvelopeStore  # noqa: PLC0415
    from dealwire.store.polling import PollStateStore  # noqa: PLC0415
    from dealwire.store.tenants import TenantDirectory  # noqa: PLC0415

    settings = status_poll_settings()
    envelopes = EnvelopeStore(settings.table_name)
    return StatusPoll(
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        states=PollStateStore(settings.table_name),
        budgets=BudgetStore(settings.table_name),
        envelopes=envelopes,
        reads=EnvelopeReads(Archive(settings.documents_bucket), envelopes),
        docusign=docusign_client_factory(
            settings.docusign_app_secret, settings.docusign_auth_host, settings.docusign_base_uri or None
        ),
        rules=PollRules(
            page_size=settings.page_size,
            first_lookback=timedelta(hours=settings.first_lookback_hours),
            sweep_every=timedelta(minutes=settings.sweep_every_minutes),
            sweep_quiet_for=timedelta(minutes=settings.sweep_quiet_minutes),
            reserve_share=settings.reserve_share,
            cycle_cap=settings.cycle_cap,
            failures_every=timedelta(minutes=settings.failures_every_minutes),
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def schedule_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Queue one cycle per tenant (or per tenant named in the input)."""
    scheduled = ScheduledPoll.model_validate(event if isinstance(event, dict) else {})
    settings = status_poll_settings()
    tenants = scheduled.tenant_ids or tenant_ids(settings.tenant_secret_prefix)
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    queued = JobQueue(settings.poll_queue_url).send_all(
        [PollCycleRequest(tenant_id=tenant, scheduled_at=at) for tenant in tenants]
    )
    metrics.add_metric(name="PollCyclesQueued", unit=MetricUnit.Count, value=queued)
    logger.info("poll cycles queued", extra={"tenants": queued, "named": bool(scheduled.tenant_ids)})
    return {"queued": queued, "scheduledAt": at}


# Outcomes worth a metric of their own (the rest are in the log).
_OUTCOME_METRICS = {
    "budget_low": "PollCyclesStoppedForBudget",
    "out_of_time": "PollCyclesOutOfTime",
    "busy": "PollCyclesOverlapping",
    "docusign_refused": "PollCyclesRefused",
    "docusign_unavailable": "PollCyclesFailed",
}


def _report_metrics(report: CycleReport) -> None:
    metrics.add_metric(name="PollCycles", unit=MetricUnit.Count, value=1)
    if report.outcome in _OUTCOME_METRICS:
        metrics.add_metric(name=_OUTCOME_METRICS[report.outcome], unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PollDocuSignCalls", unit=MetricUnit.Count, value=report.calls)
    metrics.add_metric(name="EnvelopesChecked", unit=MetricUnit.Count, value=report.listed + report.swept)
    metrics.add_metric(name="ChangesSeenOnlyByPolling", unit=MetricUnit.Count, value=report.reconciled)
    metrics.add_metric(name="ConnectFailuresRepublished", unit=MetricUnit.Count, value=report.republished)
    if report.budget_remaining is not None:
        metrics.add_metric(
            name="DocuSignBudgetRemaining", unit=MetricUnit.Count, value=report.budget_remaining
        )
    if report.reconciled:
        # Per tenant too, so the account whose Connect is failing can be told from the others.
        with single_metric(
            name="ChangesSeenOnlyByPolling",
            unit=MetricUnit.Count,
            value=report.reconciled,
            default_dimensions={"tenant": report.tenant_id, **metrics.default_dimensions},
        ):
            pass


@tracer.capture_method
def run_cycle(record: SQSRecord, lambda_context: LambdaContext) -> None:
    request = PollCycleRequest.model_validate(json.loads(record.body))
    logger.append_keys(tenant_id=request.tenant_id)

    def remaining() -> float:
        return lambda_context.get_remaining_time_in_millis() / 1000

    report = status_poll().run(request.tenant_id, remaining=remaining)
    _report_metrics(report)
    logger.info(
        "poll cycle",
        extra={
            "outcome": report.outcome,
            "calls": report.calls,
            "pages": report.pages,
            "listed": report.listed,
            "swept": report.swept,
            "seen_only_by_polling": report.reconciled,
            "reconciled_envelopes": report.reconciled_envelopes,
            "connect_failures": report.connect_failures,
            "republished": report.republished,
            "budget_remaining": report.budget_remaining,
            "watermark": report.watermark,
            "detail": report.detail,
            "scheduled_at": request.scheduled_at,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=run_cycle, processor=processor, context=context
    )
