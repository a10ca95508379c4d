"""connect_replay: the operator's replay of archived Connect messages, as a one-off invocation.

    aws lambda invoke --function-name <ConnectReplayFunction> --cli-binary-format raw-in-base64-out \
      --payload '{"tenantId": "acme", "since": "2026-12-01T00:00:00Z", "rejected": true}' out.json

The same as ``python -m dealwire.tools.replay`` (``dealwire.webhook.replay``); the answer
is the report. Safe to invoke any number of times.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.domain.ids import TENANT_ID_PATTERN
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import webhook_settings
from dealwire.webhook.replay import ReplayRefused, archive_replay

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.webhook.replay import ArchiveReplay


class ReplayRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    envelope_id: str | None = Field(default=None, max_length=100)
    since: str | None = Field(default=None, max_length=40)
    rejected: bool = False


@cache
def replay() -> ArchiveReplay:
    return archive_replay(webhook_settings())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = ReplayRequest.model_validate(event)
    except ValidationError as exc:
        return {"error": "invalid_request", "message": "; ".join(e["msg"] for e in exc.errors()[:5])}
    logger.append_keys(tenant_id=request.tenant_id, envelope_id=request.envelope_id)
    try:
        report = replay().run(
            request.tenant_id,
            envelope_id=request.envelope_id,
            since=request.since,
            rejected=request.rejected,
            remaining=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except ReplayRefused as exc:
        return {"error": "refused", "message": str(exc)}
    metrics.add_metric(name="MessagesReplayed", unit=MetricUnit.Count, value=report.replayed)
    metrics.add_metric(name="ReplayChanges", unit=MetricUnit.Count, value=report.changed)
    logger.info("replay done", extra=report.as_dict())
    return report.as_dict()
