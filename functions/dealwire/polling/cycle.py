"""One status-poll cycle for one tenant's DocuSign account. Knows nothing of Lambda.

Under the tenant's lease, within what the account's hourly budget leaves above the
reserve, and within the invocation's time:

1. **Connect's failure log** (at most once per ``failures_every``): what DocuSign could not
   deliver; envelopes dealwire has not seen finish are republished by DocuSign (its retry
   queue), so their callbacks arrive after all.
2. **The changes** since the watermark (``listStatusChanges``, paged): each envelope is
   recorded as a callback would be (``EnvelopeReads``); the watermark moves only once every
   page is applied. An interrupted listing is kept and resumed.
3. **The sweep**: envelopes in flight and quiet for long are asked about by id, 100 a call,
   a pass at most every ``sweep_every`` (catches envelopes outside Connect's scope).

A change the poll applies that no callback had brought (a fresh write) is counted: many of
them mean Connect is failing for the account.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from dealwire.docusign.errors import DocuSignError, DocuSignUnavailable, RateLimitExceeded
from dealwire.domain.ids import is_tenant_id
from dealwire.domain.polling import (
    ENVELOPE_IDS_PER_CALL,
    MAX_MOVED,
    CycleOutcome,
    canonical,
    next_listing,
    over_reserve,
    parse_canonical,
    sweep_to_run,
)
from dealwire.store.budget import BudgetLedger
from dealwire.store.polling import LeaseLost, PollState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from dealwire.docusign.client import DocuSignClient
    from dealwire.domain.polling import Sweep
    from dealwire.envelope_reads import EnvelopeReads
    from dealwire.store.budget import BudgetStore
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.polling import PollStateStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

# What listStatusChanges is asked to include: the recipients (the tracker) and the custom
# fields (the deal an envelope sent outside dealwire belongs to).
INCLUDE = "recipients,custom_fields"
# Seconds of the invocation kept back for recording the cycle after its last call.
RESERVE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PollRules:
    """How a cycle behaves; the function's settings fill it."""

    page_size: int = 100
    # How far back of now a listing ends, and how far before the watermark the next begins:
    # the overlap re-reads the last minute each cycle (harmless: stale), so a change DocuSign
    # indexed late, or stamped by a clock a little behind ours, is still seen.
    settle: timedelta = timedelta(0)
    overlap: timedelta = timedelta(seconds=60)
    first_lookback: timedelta = timedelta(days=1)
    sweep_every: timedelta = timedelta(hours=6)
    sweep_quiet_for: timedelta = timedelta(hours=1)
    reserve_share: float = 0.2
    cycle_cap: int = 500
    failures_every: timedelta = timedelta(hours=1)
    # A cycle's lease: the invocation's time left and this margin (a cycle without a deadline: the default).
    lease_seconds: int = 360
    lease_margin_seconds: int = 60


@dataclass(slots=True)
class CycleReport:
    """What one cycle did, for the log, the metrics and the poll state's ``last_cycle``."""

    tenant_id: str
    outcome: CycleOutcome = "done"
    started_at: str = ""
    calls: int = 0
    pages: int = 0
    listed: int = 0
    swept: int = 0
    reconciled: int = 0
    unreadable: int = 0
    connect_failures: int = 0
    republished: int = 0
    budget_remaining: int | None = None
    watermark: str | None = None
    detail: str = ""
    reconciled_envelopes: list[str] = field(default_factory=list)

    def as_item(self) -> dict[str, Any]:
        item = {
            "outcome": self.outcome,
            "started_at": self.started_at,
            "calls": self.calls,
            "pages": self.pages,
            "listed": self.listed,
            "swept": self.swept,
            "reconciled": self.reconciled,
            "unreadable": self.unreadable,
            "connect_failures": self.connect_failures,
            "republished": self.republished,
            "detail": self.detail[:500],
        }
        if self.budget_remaining is not None:
            item["budget_remaining"] = self.budget_remaining
        return item


class _Stop(Exception):
    """No further call may be made this cycle (budget or time); ``outcome`` says which."""

    def __init__(self, outcome: CycleOutcome) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(slots=True)
class _Cycle:
    """The running cycle's counters and the limits every call is checked against."""

    tenant: TenantConfig
    client: DocuSignClient
    report: CycleReport
    allowance: int
    reserve_share: float
    remaining: Callable[[], float] | None
    clock: Callable[[], float]
    first_call: int = 0

    def spent(self) -> int:
        return self.client.api_requests - self.first_call

    def may_call(self) -> None:
        """Raise ``_Stop`` unless one more call fits the allowance, DocuSign's last answer and the time."""
        if self.spent() >= self.allowance:
            raise _Stop("budget_low")
        rate = self.client.rate_limit
        # A report from a window that has reset since says nothing about this one.
        current = rate.reset_at is None or rate.reset_at.timestamp() > self.clock()
        if current and not over_reserve(rate.remaining, rate.limit, self.reserve_share):
            raise _Stop("budget_low")
        if self.remaining is not None and self.remaining() < RESERVE_SECONDS:
            raise _Stop("out_of_time")


class StatusPoll:
    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        states: PollStateStore,
        budgets: BudgetStore,
        envelopes: EnvelopeStore,
        reads: EnvelopeReads,
        docusign: Callable[[TenantConfig], DocuSignClient],
        rules: PollRules | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tenants = tenants
        self._states = states
        self._budgets = budgets
        self._envelopes = envelopes
        self._reads = reads
        self._docusign = docusign
        self._rules = rules or PollRules()
        self._clock = clock
        self._ledger = BudgetLedger(budgets, "poll")

    def run(self, tenant_id: str, *, remaining: Callable[[], float] | None = None) -> CycleReport:
        """One cycle for ``tenant_id``. Raises only what a retry may fix (DocuSign or AWS
        unavailable), after keeping what was applied; everything else is in the report."""
        now = self._clock()
        report = CycleReport(tenant_id, started_at=canonical(datetime.fromtimestamp(now, UTC)))
        tenant = self._tenants.get(tenant_id) if is_tenant_id(tenant_id) else None
        if tenant is None or not tenant.docusign_user_id:
            report.outcome, report.detail = "not_connected", "the tenant has no DocuSign user to impersonate"
            return report
        owner = uuid.uuid4().hex
        # Held past the invocation's end, so a cycle Lambda kills is not overtaken before it stops.
        lease = (
            int(remaining()) + self._rules.lease_margin_seconds if remaining else self._rules.lease_seconds
        )
        state = self._states.acquire(tenant_id, owner, seconds=lease, now=now)
        if state is None:
            report.outcome, report.detail = "busy", "another cycle holds this tenant's poll"
            return report
        try:
            new_state, failure = self._cycle(tenant, state, report, now, remaining)
        except BaseException:
            # An AWS failure mid-cycle: nothing of the place is kept, so the next cycle repeats
            # what this one read (harmless) rather than skip what it may not have recorded.
            self._states.release(tenant_id, owner)
            raise
        try:
            self._states.finish(tenant_id, owner, replace(new_state, last_cycle=report.as_item()))
        except LeaseLost as lost:
            report.outcome, report.detail = "lease_lost", str(lost)
        if failure is not None:
            # Everything applied before DocuSign failed is kept, with the place; the retry goes on from there.
            raise failure
        return report

    def _cycle(
        self,
        tenant: TenantConfig,
        state: PollState,
        report: CycleReport,
        now: float,
        remaining: Callable[[], float] | None,
    ) -> tuple[PollState, DocuSignError | None]:
        rules = self._rules
        budget = self._budgets.current(tenant.tenant_id, now)
        client = self._docusign(tenant)
        cycle = _Cycle(
            tenant=tenant,
            client=client,
            report=report,
            allowance=budget.allowance(rules.reserve_share, rules.cycle_cap),
            reserve_share=rules.reserve_share,
            remaining=remaining,
            clock=self._clock,
            first_call=client.api_requests,
        )
        report.budget_remaining = budget.remaining
        moment = datetime.fromtimestamp(now, UTC)
        progress = _Progress(state)
        failure: DocuSignError | None = None
        try:
            with client.deadline(remaining):
                self._failures(cycle, progress, moment)
                self._list(cycle, progress, moment)
                self._sweep(cycle, progress, moment)
        except _Stop as stop:
            report.outcome = stop.outcome
        except RateLimitExceeded as exc:
            report.outcome, report.detail = "budget_low", str(exc)
        except DocuSignUnavailable as exc:
            failure = exc
            report.outcome, report.detail = "docusign_unavailable", f"DocuSign: {exc}"
        except DocuSignError as exc:
            # A refusal (consent withdrawn, a polling limit): retrying now cannot help; the next
            # cycle tries again, and the outcome's metric says it keeps failing.
            report.outcome, report.detail = "docusign_refused", f"DocuSign: {exc}"
        finally:
            report.calls = cycle.spent()
            if client.rate_limit.remaining is not None:
                report.budget_remaining = client.rate_limit.remaining
            try:
                self._ledger.settle(tenant.tenant_id, client)
            except (ClientError, BotoCoreError) as exc:
                # Bookkeeping: the next call's X-RateLimit-Remaining is still checked.
                report.detail = (report.detail + f"; the API budget was not recorded: {exc}").lstrip("; ")
        report.watermark = progress.state.watermark
        return progress.state, failure

    # -- 1. Connect's failure log ------------------------------------------------------------

    def _failures(self, cycle: _Cycle, progress: _Progress, moment: datetime) -> None:
        from dealwire.docusign.connect_admin import ConnectAdmin  # noqa: PLC0415 - with the client

        checked = progress.state.failures_checked_at
        if checked and moment - parse_canonical(checked) < self._rules.failures_every:
            return
        cycle.may_call()
        since = parse_canonical(checked) if checked else moment - self._rules.first_lookback
        admin = ConnectAdmin(cycle.client)
        try:
            failures = admin.failures(since)
            cycle.report.connect_failures = len(failures)
            failed = list(dict.fromkeys(f.envelope_id for f in failures if f.envelope_id))
            settled = self._envelopes.settled(cycle.tenant.tenant_id, failed) if failed else set()
            wanted = [envelope_id for envelope_id in failed if envelope_id not in settled]
            if wanted:
                cycle.may_call()
                admin.republish(wanted)
                cycle.report.republished = len(wanted)
        except (DocuSignUnavailable, RateLimitExceeded):
            raise
        except DocuSignError as exc:
            # The log and the retry queue need an account admin; without them the changes are
            # still listed: the failure log only says why they were needed.
            cycle.report.detail = f"Connect's failure log: {exc}"
        progress.state = replace(progress.state, failures_checked_at=canonical(moment))

    # -- 2. the changes since the watermark --------------------------------------------------

    def _list(self, cycle: _Cycle, progress: _Progress, moment: datetime) -> None:
        rules = self._rules
        listing = progress.state.listing or next_listing(
            progress.state.watermark,
            moment,
            settle=rules.settle,
            overlap=rules.overlap,
            first_lookback=rules.first_lookback,
        )
        progress.state = replace(progress.state, listing=listing)
        while True:
            cycle.may_call()
            page = cycle.client.status_changes_page(
                from_date=parse_canonical(listing.from_date),
                to_date=parse_canonical(listing.to_date),
                start=listing.position,
                count=rules.page_size,
                include=INCLUDE,
            )
            cycle.report.pages += 1
            cycle.report.listed += len(page.envelopes)
            self._apply(cycle, page.envelopes)
            done = listing.finished(len(page.envelopes), page.total)
            listing = listing.after_page(len(page.envelopes), page.total)
            progress.state = replace(progress.state, listing=listing)
            if done:
                progress.state = replace(progress.state, listing=None, watermark=listing.to_date)
                return

    # -- 3. the sweep ----------------------------------------------------------------------

    def _sweep(self, cycle: _Cycle, progress: _Progress, moment: datetime) -> None:
        rules = self._rules
        sweep: Sweep | None = sweep_to_run(
            progress.state.sweep, moment, every=rules.sweep_every, quiet_for=rules.sweep_quiet_for
        )
        while sweep is not None and not sweep.done:
            cycle.may_call()
            quiet, cursor = self._envelopes.quiet_in_flight(
                cycle.tenant.tenant_id,
                limit=ENVELOPE_IDS_PER_CALL,
                cursor=sweep.cursor,
                quiet_since=sweep.quiet_since,
            )
            # Each with the last change dealwire has of it: a read of nothing later is skipped.
            known = {
                envelope_id: changed
                for envelope_id, changed in quiet.items()
                if envelope_id not in sweep.moved
            }
            moved = sweep.moved
            if known:
                found = cycle.client.status_changes_page(envelope_ids=list(known), include=INCLUDE)
                cycle.report.swept += len(known)
                changed = self._apply(cycle, found.envelopes, known)
                moved = frozenset(list(moved | changed)[:MAX_MOVED])
            finished = None if cursor else canonical(datetime.fromtimestamp(self._clock(), UTC))
            sweep = replace(sweep, cursor=cursor, done=cursor is None, moved=moved, finished_at=finished)
            progress.state = replace(progress.state, sweep=sweep)

    # -- applying what DocuSign said -------------------------------------------------------

    def _apply(
        self,
        cycle: _Cycle,
        envelopes: Iterable[Mapping[str, Any]],
        known: Mapping[str, str] | None = None,
    ) -> set[str]:
        """Record each envelope as a callback would be; the ids of those it moved forward.
        ``known``: per envelope, the last change dealwire has (a read of nothing later is skipped)."""
        changed: set[str] = set()
        for document in envelopes:
            recorded = self._reads.record(
                cycle.tenant.tenant_id,
                cycle.tenant.docusign_account_id,
                document,
                source="poll",
                known_change=(known or {}).get(str(document.get("envelopeId", ""))) or None,
            )
            if recorded.refused:
                cycle.report.unreadable += 1
                cycle.report.detail = f"envelope {recorded.envelope_id}: {recorded.refused}"
            elif recorded.changed:
                changed.add(recorded.envelope_id)
                cycle.report.reconciled += 1
                if len(cycle.report.reconciled_envelopes) < 20:
                    cycle.report.reconciled_envelopes.append(recorded.envelope_id)
        return changed


@dataclass(slots=True)
class _Progress:
    """The poll state as far as this cycle has got: what is written when it ends, however it ends."""

    state: PollState
