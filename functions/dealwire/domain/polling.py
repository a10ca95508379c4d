"""The status poller's rules, pure: which window to list, how to page it, what it may spend.

A cycle lists the account's changes since its watermark (``listStatusChanges`` with
``from_date``/``to_date``), pages with ``start_position``, applies every change, and only
then moves the watermark. The window's end is fixed when the listing starts, so the set
it pages through can only shrink while it does (an envelope that changes again leaves
it); a shrink before the current position would skip an envelope, so the next page
starts that many earlier (a change seen twice is harmless: the ordering rule makes it
stale). A listing the budget or the clock interrupts is kept and resumed, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from dealwire.domain.timestamps import FRACTION_DIGITS

# DocuSign's guideline: no envelope is asked about more than once per 15 minutes.
ENVELOPE_POLL_INTERVAL: Final = timedelta(minutes=15)
# listStatusChanges takes at most this many envelope ids in one call.
ENVELOPE_IDS_PER_CALL: Final = 100
# What an account may spend an hour when DocuSign has not said (its default plan).
DEFAULT_HOURLY_LIMIT: Final = 3000
# Envelopes a sweep remembers having moved ahead of its place in one pass (see Sweep).
MAX_MOVED: Final = 1000

CycleOutcome = Literal[
    "done",
    "budget_low",
    "out_of_time",
    "busy",
    "not_connected",
    "lease_lost",
    "docusign_unavailable",
    "docusign_refused",
]


def canonical(moment: datetime) -> str:
    """``moment`` as the table's timestamps are written (``domain.timestamps``)."""
    utc = moment.astimezone(UTC)
    fraction = f"{utc.microsecond:06d}".ljust(FRACTION_DIGITS, "0")
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def parse_canonical(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp[:26] + "+00:00")


@dataclass(frozen=True, slots=True)
class Listing:
    """A window of changes being listed: ``[from_date, to_date]``, read up to ``position`` of
    ``total`` (as DocuSign counted the set when that page was read)."""

    from_date: str
    to_date: str
    position: int = 0
    total: int | None = None

    def _shrunk(self, total: int) -> int:
        return max(0, (self.total if self.total is not None else total) - total)

    def after_page(self, read: int, total: int) -> Listing:
        """Where the next page starts, having read ``read`` envelopes from ``position`` of a set
        DocuSign now counts ``total``: on, or, if the set shrank since it was last counted (which
        may have moved unread envelopes before ``position``), back by as many to read them."""
        shrunk = self._shrunk(total)
        if shrunk:
            return replace(self, position=max(0, self.position - shrunk), total=total)
        return replace(self, position=self.position + read, total=total)

    def finished(self, read: int, total: int) -> bool:
        """Whether the page just read (``read`` of a set of ``total``) ends the listing."""
        return not self._shrunk(total) and (read == 0 or self.position + read >= total)

    def as_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "from_date": self.from_date,
            "to_date": self.to_date,
            "position": self.position,
        }
        if self.total is not None:
            item["total"] = self.total
        return item

    @classmethod
    def from_item(cls, item: object) -> Listing | None:
        if not isinstance(item, dict) or not item.get("from_date") or not item.get("to_date"):
            return None
        total = item.get("total")
        return cls(
            str(item["from_date"]),
            str(item["to_date"]),
            int(item.get("position", 0)),
            int(total) if total is not None else None,
        )


def next_listing(
    watermark: str | None, now: datetime, *, settle: timedelta, overlap: timedelta, first_lookback: timedelta
) -> Listing:
    """The window a new listing covers: from the watermark (less ``overlap``, for DocuSign's and
    our clocks' disagreement) to ``settle`` ago (what DocuSign has had time to index)."""
    end = now - settle
    start = parse_canonical(watermark) - overlap if watermark else end - first_lookback
    return Listing(canonical(min(start, end)), canonical(end))


@dataclass(frozen=True, slots=True)
class Sweep:
    """One pass over the envelopes dealwire believes are in flight and quiet for long.

    A pass begins no sooner than ``every`` after the last one ended (never under 15 minutes):
    each envelope is asked about once in a pass, so none is asked twice within DocuSign's
    interval, however many cycles a pass spans. One whose read moved it ahead of the pass's
    place (its last change was later than dealwire knew) is remembered and not asked again
    in the same pass.
    """

    started_at: str
    quiet_since: str
    cursor: str | None = None
    done: bool = False
    moved: frozenset[str] = frozenset()
    # When its last call was made (a done pass): the next may begin ``every`` after it.
    finished_at: str | None = None

    def as_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "started_at": self.started_at,
            "quiet_since": self.quiet_since,
            "done": self.done,
        }
        if self.cursor:
            item["cursor"] = self.cursor
        if self.finished_at:
            item["finished_at"] = self.finished_at
        if self.moved and not self.done:
            item["moved"] = sorted(self.moved)
        return item

    @classmethod
    def from_item(cls, item: object) -> Sweep | None:
        if not isinstance(item, dict) or not item.get("started_at") or not item.get("quiet_since"):
            return None
        return cls(
            started_at=str(item["started_at"]),
            quiet_since=str(item["quiet_since"]),
            cursor=str(item["cursor"]) if item.get("cursor") else None,
            done=bool(item.get("done", False)),
            moved=frozenset(str(e) for e in item.get("moved") or ()),
            finished_at=str(item["finished_at"]) if item.get("finished_at") else None,
        )


def sweep_to_run(
    last: Sweep | None, now: datetime, *, every: timedelta, quiet_for: timedelta
) -> Sweep | None:
    """The pass this cycle works on: the unfinished one, a new one when due, else None."""
    if last is not None and not last.done:
        return last
    interval = max(every, ENVELOPE_POLL_INTERVAL)
    if last is not None and now - parse_canonical(last.finished_at or last.started_at) < interval:
        return None
    return Sweep(
        started_at=canonical(now), quiet_since=canonical(now - max(quiet_for, ENVELOPE_POLL_INTERVAL))
    )


def hour_of(moment: datetime) -> str:
    """DocuSign's hourly window a moment falls in, as the budget item's key names it."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H}"


@dataclass(frozen=True, slots=True)
class BudgetView:
    """The account's hourly budget as last reported (``remaining`` None: DocuSign has not said)."""

    hour: str
    limit: int | None = None
    remaining: int | None = None
    calls: int = 0

    def reserve(self, share: float) -> int:
        """What the poller leaves for sends, voids and document downloads."""
        return reserve(self.limit, share)

    def allowance(self, share: float, cap: int) -> int:
        """What one cycle may spend: what is left above the reserve, at most ``cap``."""
        limit = self.limit or DEFAULT_HOURLY_LIMIT
        left = self.remaining if self.remaining is not None else limit - self.calls
        return max(0, min(cap, left - self.reserve(share)))


def reserve(limit: int | None, share: float) -> int:
    """The calls of an hourly ``limit`` (DocuSign's default when unknown) kept back from the poller."""
    return int((limit or DEFAULT_HOURLY_LIMIT) * share)


def over_reserve(remaining: int | None, limit: int | None, share: float) -> bool:
    """Whether a call may still be made, by DocuSign's latest answer (True when it gave none)."""
    return remaining is None or remaining > reserve(limit, share)
