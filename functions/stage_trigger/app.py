"""stage_trigger: a CRM deal entered a pipeline stage; send what the tenant's automation rules say.

EventBridge invokes it with ``deal.stage_changed`` (asynchronously: a raised error is
retried, then kept in the failure queue). A DocuSign or AWS failure that retrying can
fix raises; a send that cannot be made is recorded and published as automation.failed.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from dealwire.automation.trigger import StageTrigger
from dealwire.contracts.crm import DealStageChanged  # noqa: TC001 - pydantic reads it at run time
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import stage_trigger_settings
from dealwire.store.automation import AutomationStore, RuleStore
from dealwire.store.docusign_app import DocuSignAccess, spending_access
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

STAGE_CHANGED = "deal.stage_changed"
_METRICS = {
    "sent": "AutomationSent",
    "replaced": "AutomationReplaced",
    "failed": "AutomationFailed",
    "skipped": "AutomationSkipped",
}


class StageChangedEvent(EventBridgeModel):
    """The bus's ``deal.stage_changed``, as EventBridge delivers it."""

    detail: DealStageChanged


@cache
def trigger() -> StageTrigger:
    """Built on the first event; a missing or malformed setting fails it, by name."""
    settings = stage_trigger_settings()
    return StageTrigger(
        rules=RuleStore(settings.table_name),
        automation=AutomationStore(settings.table_name),
        envelopes=EnvelopeStore(settings.table_name),
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        access=docusign_access(),
    )


@cache
def docusign_access() -> DocuSignAccess:
    """The senders' DocuSign clients; what they spend goes in each tenant's hourly budget."""
    return spending_access(stage_trigger_settings(), "send")


@logger.inject_lambda_context(clear_state=True, correlation_id_path="id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") != STAGE_CHANGED:
        raise ValueError(
            f"stage_trigger takes {STAGE_CHANGED} from the bus, not {event.get('detail-type')!r}"
        )
    parsed = StageChangedEvent.model_validate(event)
    change = parsed.detail
    logger.append_keys(tenant_id=change.tenant_id, deal_id=change.deal_id, stage_id=change.to_stage_id)
    try:
        outcomes = trigger().handle(parsed.id, change)
    finally:
        for problem in docusign_access().settle():
            logger.warning("the API budget was not recorded", extra={"problem": problem})
    for outcome in outcomes:
        if outcome.result in _METRICS:
            metrics.add_metric(name=_METRICS[outcome.result], unit=MetricUnit.Count, value=1)
        if outcome.docusign_calls:
            metrics.add_metric(name="DocuSignCalls", unit=MetricUnit.Count, value=outcome.docusign_calls)
        logger.info(
            "stage change",
            extra={
                "rule_id": outcome.rule_id,
                "result": outcome.result,
                "envelope_id": outcome.envelope_id,
                "reason": outcome.reason,
                "send_id": outcome.send_id,
            },
        )
    if not outcomes:
        metrics.add_metric(name="StageChangesWithoutRules", unit=MetricUnit.Count, value=1)
    return {
        "outcomes": [
            {"ruleId": o.rule_id, "result": o.result, "envelopeId": o.envelope_id, "reason": o.reason}
            for o in outcomes
        ]
    }
