"""stream_publisher: table stream in; envelope.* and mail.* events to the bus and jobs to the queue out."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from dealwire.domain.publications import derive
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import stream_publisher_settings
from dealwire.store.bus import EventBus
from dealwire.store.job_queue import JobQueue
from dealwire.store.table import deserialize, item_kind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def bus() -> EventBus:
    settings = stream_publisher_settings()  # a missing or malformed setting fails here, by name
    return EventBus(settings.event_bus_name, settings.event_source)


@cache
def job_queue() -> JobQueue:
    return JobQueue(stream_publisher_settings().document_queue_url)


def _image(record: DynamoDBRecord, which: str) -> dict[str, Any] | None:
    change = record.raw_event.get("dynamodb", {})
    image = change.get(which)
    return deserialize(image) if image else None


@tracer.capture_method
def publish_change(record: DynamoDBRecord) -> None:
    """Publish what one committed change implies; raising retries this record."""
    old, new = _image(record, "OldImage"), _image(record, "NewImage")
    derived = derive(item_kind(new or old or {}), old, new)
    if derived.events:
        bus().publish(derived.events)
        metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(derived.events))
    for job in derived.jobs:
        job_queue().send(job)
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
    if derived.events or derived.jobs:
        logger.info(
            "change published",
            extra={
                "events": [p.detail_type for p in derived.events],
                "jobs": [getattr(job, "kind", "") for job in derived.jobs],
                "sequence_number": record.dynamodb.sequence_number if record.dynamodb else None,
            },
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=publish_change, processor=processor, context=context
    )
