"""A deal entered a stage: send what the tenant's rules for it say, each at most once.

For one ``deal.stage_changed``:

1. The deal's stage item records it unless a newer change is recorded: a late or
   repeated event from the CRM changes nothing (the same event again is let through, so a
   crash mid-way is finished by the redelivery).
2. For each enabled rule of the pipeline and stage, the rule's signing process for the
   deal is claimed for a send id derived from the rule and the stage change: one
   conditional transaction that also checks the deal is still at this change. A process
   still active (its envelope not terminal) is skipped or, if the rule says ``replace``,
   voided and taken over.
3. The envelope is created once: the send id is DocuSign's ``transactionId`` and a custom
   field; a claim found from an earlier attempt, or a create whose answer was lost, first
   asks DocuSign for the envelope. The envelope is recorded in the envelope table (so
   Connect callbacks, the tracker and the poller find it), then the outcome on the
   process's item, from which the stream publishes ``automation.*``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from dealwire.automation.plan import Refusal, plan_send, send_id
from dealwire.automation.process import (
    Active,
    ProcessBusy,
    create_once,
    now_iso,
    parsed,
    record_created,
    still_active,
)
from dealwire.automation.rules import RuleDefinition
from dealwire.docusign.envelopes import EnvelopeSender, SentEnvelope

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from typing import Any

    from dealwire.contracts.crm import DealStageChanged
    from dealwire.docusign.client import DocuSignClient
    from dealwire.docusign.envelopes import TemplateDetail
    from dealwire.store.automation import AutomationStore, RuleStore, StoredRule
    from dealwire.store.docusign_app import DocuSignAccess
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

TEMPLATE_CACHE_SECONDS: Final = 60
Result = Literal[
    "sent", "failed", "skipped", "replaced", "superseded", "stale", "already_sent", "already_failed"
]


@dataclass(frozen=True, slots=True)
class Outcome:
    rule_id: str
    result: Result
    send_id: str = ""
    envelope_id: str | None = None
    reason: str | None = None
    docusign_calls: int = 0


class StageTrigger:
    def __init__(
        self,
        *,
        rules: RuleStore,
        automation: AutomationStore,
        envelopes: EnvelopeStore,
        tenants: TenantDirectory,
        access: DocuSignAccess,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rules = rules
        self._automation = automation
        self._envelopes = envelopes
        self._tenants = tenants
        self._access = access
        self._clock = clock
        self._templates: dict[tuple[str, str], tuple[float, TemplateDetail]] = {}

    def handle(self, event_id: str, change: DealStageChanged) -> list[Outcome]:
        applied = self._automation.apply_stage(
            change.tenant_id,
            change.deal_id,
            pipeline_id=change.pipeline_id,
            stage_id=change.to_stage_id,
            changed_at=change.updated_at,
            event_id=event_id,
        )
        if not applied:
            return [Outcome(rule_id="", result="stale")]
        matching = [
            rule
            for rule in self._rules.rules(change.tenant_id)
            if rule.definition.get("enabled", True)
            and rule.definition.get("pipelineId") == change.pipeline_id
            and rule.definition.get("stageId") == change.to_stage_id
        ]
        tenant = self._tenants.get(change.tenant_id) if matching else None
        return [self._run(tenant, change, event_id, rule) for rule in matching]

    # -- one rule ------------------------------------------------------------------------------

    def _run(
        self, tenant: TenantConfig | None, change: DealStageChanged, event_id: str, stored: StoredRule
    ) -> Outcome:
        rule = RuleDefinition.model_validate(stored.definition)
        send = send_id(change.tenant_id, change.deal_id, stored.rule_id, event_id)
        detail = {
            "document_type": rule.document_type,
            "template_id": rule.template_id,
            "rule_version": stored.version,
            "stage_id": change.to_stage_id,
        }
        claim_args: dict[str, Any] = {
            "send": send,
            "stage_event": event_id,
            "at": now_iso(),
            "detail": detail,
        }
        claim = self._automation.claim(change.tenant_id, change.deal_id, stored.rule_id, **claim_args)
        replaced = False
        if claim.outcome == "held" and claim.holder is not None:
            holder = claim.holder
            if tenant is None:
                return Outcome(stored.rule_id, "skipped", send)  # nothing to ask DocuSign with
            sender = EnvelopeSender(self._client(tenant, rule))
            try:
                active = still_active(self._envelopes, change.tenant_id, holder, sender.find)
            except ProcessBusy:
                if rule.when_active == "replace":
                    raise  # EventBridge retries: by then the other delivery's envelope is there to void
                active = Active("")  # being sent right now: the rule's process is active
            if active is not None and rule.when_active == "skip":
                self._automation.record_skipped(
                    change.tenant_id,
                    change.deal_id,
                    stored.rule_id,
                    held_by=str(holder["send_id"]),
                    send=send,
                    at=now_iso(),
                )
                return Outcome(stored.rule_id, "skipped", send, active.envelope_id or None)
            if active is not None:
                self._void(tenant, rule, active.envelope_id, change)
                replaced = True
            claim = self._automation.claim(
                change.tenant_id,
                change.deal_id,
                stored.rule_id,
                **claim_args,
                take_from=str(holder["send_id"]),
            )
        if claim.outcome == "superseded":
            return Outcome(stored.rule_id, "superseded", send)
        if claim.outcome == "held":
            # Another send took it between our two looks: it is the active one now.
            return Outcome(stored.rule_id, "skipped", send)
        if claim.outcome == "ours" and claim.state in {"sent", "failed"}:
            return Outcome(
                stored.rule_id,
                "already_sent" if claim.state == "sent" else "already_failed",
                send,
                claim.envelope_id,
            )
        since = parsed(claim.claimed_at) if claim.outcome == "ours" and claim.claimed_at else None
        outcome = self._send(tenant, change, stored, rule, send, retrying_since=since)
        return (
            Outcome(
                outcome.rule_id,
                "replaced",
                outcome.send_id,
                outcome.envelope_id,
                outcome.reason,
                outcome.docusign_calls,
            )
            if replaced and outcome.result == "sent"
            else outcome
        )

    def _send(
        self,
        tenant: TenantConfig | None,
        change: DealStageChanged,
        stored: StoredRule,
        rule: RuleDefinition,
        send: str,
        *,
        retrying_since: datetime | None,
    ) -> Outcome:
        """Create the envelope (after looking for it, when an earlier attempt may have made it)."""
        from dealwire.docusign.errors import ConsentRequired, DocuSignError, DocuSignUnavailable  # noqa: PLC0415

        if tenant is None or not tenant.docusign_user_id:
            return self._refuse(
                change,
                stored,
                send,
                Refusal("sender_not_connected", "the account is not connected to DocuSign: connect it first"),
            )
        client = self._client(tenant, rule)
        sender = EnvelopeSender(client)
        calls = client.requests
        try:
            found = sender.find(send, retrying_since) if retrying_since else None
            if found is not None:
                return self._record(
                    tenant,
                    change,
                    stored,
                    rule=rule,
                    send=send,
                    created=found,
                    warnings=(),
                    calls=client.requests - calls,
                )
            template = self._template(sender, tenant, rule.template_id)
            planned = (
                plan_send(rule, template, change, rule_id=stored.rule_id, send=send)
                if template
                else Refusal("template_not_found", f"the account has no template {rule.template_id}")
            )
            if isinstance(planned, Refusal):
                return self._refuse(change, stored, send, planned)
            created = create_once(sender, planned.request)
        except ConsentRequired as exc:
            return self._refuse(change, stored, send, Refusal("sender_not_connected", exc.message))
        except DocuSignUnavailable:
            raise  # EventBridge delivers the event again; the claim makes the retry look before it creates
        except DocuSignError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise
            refusal = Refusal("docusign_refused", f"{exc.error_code}: {exc.message}")
            return self._refuse(change, stored, send, refusal)
        return self._record(
            tenant,
            change,
            stored,
            rule=rule,
            send=send,
            created=created,
            warnings=planned.warnings,
            calls=client.requests - calls,
        )

    def _record(
        self,
        tenant: TenantConfig,
        change: DealStageChanged,
        stored: StoredRule,
        *,
        rule: RuleDefinition,
        send: str,
        created: SentEnvelope,
        warnings: tuple[str, ...],
        calls: int,
    ) -> Outcome:
        record_created(
            self._envelopes,
            self._automation,
            tenant=tenant,
            deal_id=change.deal_id,
            process=stored.rule_id,
            send=send,
            created=created,
            extra={
                "rule_id": stored.rule_id,
                "sent_by": f"rule:{stored.rule_id}",
                "document_type": rule.document_type,
            },
            warnings=warnings,
        )
        return Outcome(stored.rule_id, "sent", send, created.envelope_id, docusign_calls=calls)

    def _refuse(self, change: DealStageChanged, stored: StoredRule, send: str, refusal: Refusal) -> Outcome:
        self._automation.record_failed(
            change.tenant_id,
            change.deal_id,
            stored.rule_id,
            send=send,
            reason=refusal.reason,
            detail=refusal.detail,
            at=now_iso(),
        )
        return Outcome(stored.rule_id, "failed", send, reason=refusal.reason)

    # -- helpers ------------------------------------------------------------------------------------

    def _client(self, tenant: TenantConfig, rule: RuleDefinition) -> DocuSignClient:
        user = rule.sender_user_id or tenant.docusign_user_id or ""
        return self._access.client(
            user, tenant.docusign_account_id, tenant.docusign_base_uri, tenant_id=tenant.tenant_id
        )

    def _template(
        self, sender: EnvelopeSender, tenant: TenantConfig, template_id: str
    ) -> TemplateDetail | None:
        key = (tenant.tenant_id, template_id)
        cached = self._templates.get(key)
        if cached and cached[0] > self._clock():
            return cached[1]
        detail = sender.template_or_none(template_id)
        if detail is not None:
            self._templates[key] = (self._clock() + TEMPLATE_CACHE_SECONDS, detail)
        return detail

    def _void(
        self, tenant: TenantConfig, rule: RuleDefinition, envelope_id: str, change: DealStageChanged
    ) -> None:
        reason = f"Replaced: deal {change.title or change.deal_id} entered stage {change.to_stage_id} again"
        EnvelopeSender(self._client(tenant, rule)).void_if_out(envelope_id, reason)
