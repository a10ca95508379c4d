"""Reconciliation cost: DocuSign calls per poll cycle, beside a naive per-envelope poller, in one run.

One account in the DocuSign simulator holds OPEN sent envelopes that DocuSign never called
back about; CHANGED of them are then signed with Connect off. dealwire's cycle
(``dealwire.polling``, in-process against moto) is measured on that account, and so is
the naive design a reconciler is often written as: one ``GET envelopes/{id}`` per open
envelope every cycle. DocuSign calls are counted at the simulator (its request log), AWS
requests at each client's API call. From the measured calls, the bench works out how many
open envelopes one account can keep reconciled within 10% of its hourly budget.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.moto_stack import connected_stack

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).resolve().parent / "results-polling.md"
OPEN = 10_000
CHANGED = 3
HOURLY_BUDGET = 3000
POLLING_SHARE = 0.10
CYCLES_PER_HOUR = 4  # the schedule's default: every 15 minutes


def main() -> int:  # noqa: PLR0915 - one bench, set up and run in order
    with connected_stack("StatusPollFunction") as (env, key):
        from dealwire.domain.polling import canonical
        from dealwire.envelope_reads import EnvelopeReads
        from dealwire.polling.cycle import PollRules, StatusPoll
        from dealwire.store import clients
        from dealwire.store.archive import Archive
        from dealwire.store.budget import BudgetStore
        from dealwire.store.docusign_app import docusign_client_factory
        from dealwire.store.envelopes import EnvelopeStore
        from dealwire.store.polling import PollState, PollStateStore
        from dealwire.store.tenants import TenantDirectory
        from infra.docusign_sim import SimulatorControl
        from tests.docusign_support import simulator
        from tests.infra.test_docusign_sim import Api
        from tests.support import ACCOUNT_ID, TENANT_ID, ManualClock

        table, bucket = env["DEALWIRE_TABLE_NAME"], env["DEALWIRE_DOCUMENTS_BUCKET"]
        aws: Counter[str] = Counter()
        clock = ManualClock()
        # Limits raised so the naive poller can be counted to the end (DocuSign would stop it: 10,000
        # GETs an hour are over 3,000, and 500 in 30 s over the burst limit).
        with simulator(key, clock=clock, rate_limit=1_000_000, burst_limit=1_000_000) as sim:
            control = SimulatorControl(sim.url)
            control.connect_off()
            envelopes = EnvelopeStore(table)
            poller = StatusPoll(
                tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 300),
                states=PollStateStore(table),
                budgets=BudgetStore(table),
                envelopes=envelopes,
                reads=EnvelopeReads(Archive(bucket), envelopes),
                docusign=docusign_client_factory(env["DEALWIRE_DOCUSIGN_APP_SECRET"], sim.url, None),
                # No overlap: the bench's changes come a moment after the watermark, not a minute.
                rules=PollRules(overlap=timedelta(0), page_size=100, cycle_cap=3000),
                clock=clock,
            )
            for built in (clients.dynamodb(), clients.s3(), clients.secretsmanager()):
                built.meta.events.register("before-call.*.*", lambda model, **_: aws.update([model.name]))
            opened = control.bulk_envelopes(OPEN)
            # dealwire already tracks them (as their callbacks would have recorded them: sent, in
            # flight), and its watermark is past their creation: a cycle has nothing to catch up.
            _track(table, TENANT_ID, ACCOUNT_ID, opened, canonical(datetime.now(UTC)))
            states = PollStateStore(table)
            states.acquire(TENANT_ID, "bench", seconds=60)
            states.finish(TENANT_ID, "bench", PollState(watermark=canonical(datetime.now(UTC))))

            def measured(name: str, run: Callable[[], Any]) -> tuple[str, int, int, float]:
                control.clear_requests()
                aws.clear()
                started = time.perf_counter()
                run()
                elapsed = time.perf_counter() - started
                calls = len([r for r in control.requests() if "/restapi/" in r["path"]])
                requests = sum(aws.values())
                print(f"{name}: {calls} DocuSign calls, {requests} AWS requests, {elapsed:.1f} s", flush=True)
                return name, calls, sum(aws.values()), elapsed

            def cycle() -> None:
                report = poller.run(TENANT_ID)
                assert report.outcome == "done", report.detail

            rows = [measured(f"dealwire, {OPEN:,} open, none changed (and the hourly failure log)", cycle)]
            for envelope_id in opened[:CHANGED]:
                for recipient in ("1", "2"):
                    control.sign(envelope_id, recipient)
            rows.append(measured(f"dealwire, {OPEN:,} open, {CHANGED} changed", cycle))
            finished = [(envelopes.envelope(TENANT_ID, e) or {}).get("status") for e in opened[:CHANGED]]
            assert finished == ["completed"] * CHANGED, "the cycle did not reconcile the changed envelopes"
            # Six hours on, a sweep pass over every open envelope (all quiet for long by then).
            clock.advance(hours=6)
            sweep = measured(f"dealwire sweep pass, {OPEN:,} open (every 6 h)", cycle)
            rows.append(sweep)

            with httpx.Client(trust_env=False, timeout=30) as http:
                naive = Api(http, sim, key)

                def naive_cycle() -> None:
                    for envelope_id in opened:
                        path = f"envelopes/{envelope_id}"
                        answer = naive.call("GET", path, params={"include": "recipients"})
                        answer.raise_for_status()

                rows.append(measured(f"naive poller, {OPEN:,} open (a GET each, every cycle)", naive_cycle))

    allowed = HOURLY_BUDGET * POLLING_SHARE
    listing = rows[1][1]  # a cycle with a few changes
    # That cycle also listed (1 call) and read the failure log (1, hourly).
    sweep_per_envelope = (sweep[1] - listing - 1) / OPEN
    sweeps_per_hour = 1 / 6
    # dealwire: 4 listings an hour and the failure log once, plus a sixth of a sweep pass.
    dealwire_reach = int((allowed - CYCLES_PER_HOUR * listing - 1) / (sweep_per_envelope * sweeps_per_hour))
    naive_reach = int(allowed / CYCLES_PER_HOUR / (rows[3][1] / OPEN))
    lines = [
        "| cycle | DocuSign calls | AWS requests | wall time (moto + loopback simulator) |",
        "|---|---|---|---|",
        *(f"| {name} | {calls:,} | {sent:,} | {elapsed:.1f} s |" for name, calls, sent, elapsed in rows[:-1]),
        f"| {rows[-1][0]} | {rows[-1][1]:,} | (its own writes not counted) | {rows[-1][3]:.1f} s |",
        "",
        f"Open envelopes one account keeps reconciled within {POLLING_SHARE:.0%} of its "
        f"{HOURLY_BUDGET:,} calls an hour, cycles every 15 minutes: **dealwire {dealwire_reach:,}** "
        f"(a listing per cycle plus a sweep pass every 6 hours at {sweep_per_envelope * 100:.0f} "
        f"call per 100 envelopes) against **naive {naive_reach:,}**.",
    ]
    print("\n".join(lines))
    RESULTS.write_text(
        f"# make bench: reconciliation\n\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"{OPEN:,} open envelopes, {CHANGED} changed, Connect off.\n\n" + "\n".join(lines) + "\n"
    )
    return 0


def _track(table: str, tenant_id: str, account_id: str, envelope_ids: list[str], changed: str) -> None:
    """The envelopes in dealwire's table as sent and in flight, 25 items a BatchWriteItem."""
    from dealwire.store import clients
    from dealwire.store import table as layout

    dynamodb = clients.dynamodb()
    items = []
    for envelope_id in envelope_ids:
        key = layout.envelope_key(tenant_id, envelope_id)
        items.append(
            {
                "pk": key.pk, "sk": key.sk, "tenant_id": tenant_id, "account_id": account_id,
                "envelope_id": envelope_id, "status": "sent", "in_flight": True, "changed_at": changed,
                "order": f"{changed}|000|{changed}|0", layout.IN_FLIGHT.pk: layout.in_flight(tenant_id),
                layout.IN_FLIGHT.sk: layout.in_flight_sort(changed, envelope_id),
            }
        )  # fmt: skip
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={
                table: [{"PutRequest": {"Item": layout.serialize(i)}} for i in items[start : start + 25]]
            }
        )


if __name__ == "__main__":
    sys.exit(main())
