"""Stage automation per send: DocuSign calls and AWS requests, counted, beside wall time.

The stage_trigger handler runs in-process against moto (in memory) and the DocuSign
simulator (loopback), with the template's tables and one rule. Each scenario is one
``deal.stage_changed`` event for a new deal unless it says otherwise; requests are
counted at each client's API call and in the DocuSign client. The goal the issue sets:
one DocuSign create per send, plus one lookup only on a retry.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from bench.moto_stack import connected_stack

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).resolve().parent / "results-automation.md"
RUNS = 20


def _counting(call: Callable[[str, dict[str, Any]], Any], counter: Counter[str]) -> Callable[..., Any]:
    """The client's every API call, counted by operation (whatever events the client emits)."""

    def counted(operation: str, params: dict[str, Any]) -> Any:
        counter[operation] += 1
        return call(operation, params)

    return counted


def main() -> int:  # noqa: PLR0915 - one bench, set up and run in order
    with connected_stack("StageTriggerFunction") as (env, key):
        from dealwire.automation.rules import RuleDefinition
        from dealwire.automation.trigger import StageTrigger
        from dealwire.settings import stage_trigger_settings
        from dealwire.store import clients
        from dealwire.store.automation import AutomationStore, RuleStore
        from dealwire.store.envelopes import EnvelopeStore
        from dealwire.store.tenants import TenantDirectory
        from infra.docusign_sim import SimulatorControl
        from infra.local.queues import eventbridge_event
        from tests.docusign_support import USER_ID, simulator
        from tests.integration.helpers import simulated_access
        from tests.support import ACCOUNT_ID, TENANT_ID

        table = env["DEALWIRE_TABLE_NAME"]
        rule = RuleDefinition.model_validate(
            {
                "name": "bench",
                "pipelineId": "pipeline-1",
                "stageId": "contract",
                "documentType": "nda",
                "templateId": "tpl-nda",
                "contactRoles": ["Signer 1", "Signer 2"],
                "fieldMappings": [{"tabLabel": "deal_title", "source": "deal.title"}],
                "reminders": {"delayDays": 2, "frequencyDays": 2},
            }
        )
        RuleStore(table).create(TENANT_ID, "0" * 32, rule, by="bench", at="2026-12-01T00:00:00Z")
        aws: Counter[str] = Counter()
        for service in ("dynamodb", "secretsmanager"):
            clients._client(service).meta.events.register(
                "before-call.*.*", lambda model, **_: aws.update([model.name])
            )
        with simulator(key) as sim:
            control = SimulatorControl(sim.url)
            trigger = StageTrigger(
                rules=RuleStore(table),
                automation=AutomationStore(table),
                envelopes=EnvelopeStore(table),
                tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 300),
                # As the handler has it: what each send spends is recorded in the tenant's budget.
                access=simulated_access(stage_trigger_settings(), sim.url, "send"),
            )
            client = trigger._access.client(USER_ID, ACCOUNT_ID)

            def event(deal: str, at: str = "2026-12-02T10:00:00Z") -> tuple[str, Any]:
                from dealwire.contracts.crm import DealStageChanged

                detail = {
                    "tenantId": TENANT_ID, "dealId": deal, "title": "Bench deal", "pipelineId": "pipeline-1",
                    "toStageId": "contract", "updatedAt": at,
                    "contacts": [{"personId": "p1", "name": "Ann", "email": "ann@x.example", "primary": True},
                                 {"personId": "p2", "name": "Ben", "email": "ben@x.example"}],
                }  # fmt: skip
                body = eventbridge_event(
                    json.dumps({"id": str(uuid4()), "source": "crm", "detail-type": "deal.stage_changed",
                                "time": at, "region": "us-east-1", "resources": [], "detail": detail})
                )  # fmt: skip
                return str(body["id"]), DealStageChanged.model_validate(detail)

            def measure(name: str, run: Callable[[], Any], runs: int = RUNS) -> str:
                aws.clear()
                docusign_before = client.requests
                started = time.perf_counter()
                for _ in range(runs):
                    run()
                    trigger._access.settle()  # the handler's last step
                elapsed = (time.perf_counter() - started) / runs
                calls = (client.requests - docusign_before) / runs
                per = ", ".join(f"{op} {n / runs:g}" for op, n in sorted(aws.items()))
                row = (
                    f"| {name} | {calls:g} | {sum(aws.values()) / runs:g} ({per}) | {elapsed * 1000:.0f} ms |"
                )
                print(row, flush=True)
                return row

            def fresh_send() -> None:
                trigger.handle(*event(f"deal-{uuid4().hex[:8]}"))

            # Counted from here on, on the clients the stores use now.
            for built in (clients.dynamodb(), clients.secretsmanager()):
                built._make_api_call = _counting(built._make_api_call, aws)  # type: ignore[method-assign]
            rows = [measure("first send in a container (template read, token)", fresh_send, runs=1)]
            rows.append(measure("send, warm container (template cached)", fresh_send))
            repeated = event("deal-repeat")
            trigger.handle(*repeated)
            trigger._access.settle()
            rows.append(measure("the same event again (a redelivery)", lambda: trigger.handle(*repeated)))
            later = (f"2026-12-02T11:{n // 60:02d}:{n % 60:02d}Z" for n in range(3600))
            rows.append(
                measure(
                    "a later stage change while the envelope is out (skip)",
                    lambda: trigger.handle(*event("deal-repeat", next(later))),
                )
            )

            def dropped() -> None:
                control.add_fault("drop_response", path_prefix="/restapi/v2.1/accounts", method="POST")
                fresh_send()

            rows.append(measure("create whose answer was lost (found by transactionId)", dropped))
    table_md = [
        "| scenario (per stage event) | DocuSign calls | AWS requests "
        "| wall time (moto + loopback simulator) |",
        "|---|---|---|---|",
        *rows,
    ]
    RESULTS.write_text(
        f"# make bench: stage automation\n\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{RUNS} events per warm scenario.\n\n" + "\n".join(table_md) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
