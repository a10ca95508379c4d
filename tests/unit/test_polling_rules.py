"""The poller's pure rules: paging a shrinking set skips nothing; the sweep's pace; the budget's share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dealwire.domain.polling import (
    ENVELOPE_POLL_INTERVAL,
    BudgetView,
    Listing,
    Sweep,
    canonical,
    next_listing,
    over_reserve,
    parse_canonical,
    sweep_to_run,
)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@st.composite
def listings(draw: st.DrawFn) -> tuple[int, int, list[list[int]]]:
    """A set of envelopes in DocuSign's order, a page size, and before each page the ones that
    changed again since (and so left the window)."""
    size = draw(st.integers(min_value=0, max_value=60))
    page = draw(st.integers(min_value=1, max_value=10))
    removals = draw(st.lists(st.lists(st.integers(min_value=0, max_value=59), max_size=5), max_size=30))
    return size, page, removals


@settings(max_examples=500, deadline=None)
@given(listings())
def test_paging_a_set_that_shrinks_between_pages_reads_everything_that_stays(
    case: tuple[int, int, list[list[int]]],
) -> None:
    size, page_size, removals = case
    current = list(range(size))
    listing = Listing("f", "t")
    read: set[int] = set()
    for step in range(200):
        for gone in removals[step] if step < len(removals) else []:
            if gone in current:
                current.remove(gone)
        page = current[listing.position : listing.position + page_size]
        read.update(page)
        done = listing.finished(len(page), len(current))
        listing = listing.after_page(len(page), len(current))
        if done:
            break
    else:
        raise AssertionError("the listing never finished")
    assert set(current) <= read  # what changed again is seen by the next window, from its new time


def test_a_listing_resumed_after_its_set_shrank_steps_back_first() -> None:
    kept = Listing("f", "t", position=200, total=250)
    assert not kept.finished(50, 240)
    assert kept.after_page(50, 240).position == 190
    assert Listing.from_item(kept.as_item()) == kept
    assert Listing.from_item({"from_date": "f"}) is None


def test_a_new_listing_covers_from_the_watermark_less_the_overlap_to_now() -> None:
    watermark = canonical(NOW - timedelta(minutes=15))
    listing = next_listing(
        watermark, NOW, settle=timedelta(0), overlap=timedelta(minutes=1), first_lookback=timedelta(days=1)
    )
    assert parse_canonical(listing.from_date) == NOW - timedelta(minutes=16)
    assert parse_canonical(listing.to_date) == NOW
    first = next_listing(
        None, NOW, settle=timedelta(0), overlap=timedelta(minutes=1), first_lookback=timedelta(days=1)
    )
    assert parse_canonical(first.from_date) == NOW - timedelta(days=1)
    # A watermark ahead of the clock (a clock set back) lists an empty window, not a reversed one.
    ahead = next_listing(
        canonical(NOW + timedelta(hours=1)),
        NOW,
        settle=timedelta(0),
        overlap=timedelta(0),
        first_lookback=timedelta(days=1),
    )
    assert ahead.from_date == ahead.to_date


def test_a_sweep_pass_begins_no_sooner_than_its_interval_and_never_within_15_minutes() -> None:
    fresh = sweep_to_run(None, NOW, every=timedelta(hours=6), quiet_for=timedelta(hours=1))
    assert fresh is not None
    assert parse_canonical(fresh.quiet_since) == NOW - timedelta(hours=1)
    unfinished = Sweep(started_at=fresh.started_at, quiet_since=fresh.quiet_since, cursor="c")
    assert (
        sweep_to_run(unfinished, NOW + timedelta(hours=9), every=timedelta(hours=6), quiet_for=timedelta(0))
        == unfinished
    )
    done = Sweep(started_at=fresh.started_at, quiet_since=fresh.quiet_since, done=True)
    assert (
        sweep_to_run(done, NOW + timedelta(hours=5), every=timedelta(hours=6), quiet_for=timedelta(hours=1))
        is None
    )
    assert sweep_to_run(
        done, NOW + timedelta(hours=6), every=timedelta(hours=6), quiet_for=timedelta(hours=1)
    )
    # Asked for every minute, a pass still waits DocuSign's 15 minutes; "quiet" is at least that long.
    soon = sweep_to_run(done, NOW + timedelta(minutes=10), every=timedelta(minutes=1), quiet_for=timedelta(0))
    assert soon is None
    later = sweep_to_run(
        done, NOW + ENVELOPE_POLL_INTERVAL, every=timedelta(minutes=1), quiet_for=timedelta(0)
    )
    assert later is not None
    assert parse_canonical(later.quiet_since) == NOW
    moved = Sweep(started_at="s", quiet_since="q", moved=frozenset({"e1"}))
    assert Sweep.from_item(moved.as_item()) == moved


def test_the_next_pass_waits_from_the_end_of_the_last_not_its_start() -> None:
    """A pass that took 14 minutes (the budget let it ask 100 envelopes a cycle) asked its last
    envelopes 14 minutes in: a pass 15 minutes after its start would ask them again at once."""
    long = Sweep(
        started_at=canonical(NOW),
        quiet_since=canonical(NOW - timedelta(hours=1)),
        done=True,
        finished_at=canonical(NOW + timedelta(minutes=14)),
    )
    every = timedelta(minutes=15)
    assert sweep_to_run(long, NOW + timedelta(minutes=15), every=every, quiet_for=timedelta(0)) is None
    assert sweep_to_run(long, NOW + timedelta(minutes=29), every=every, quiet_for=timedelta(0)) is not None
    assert Sweep.from_item(long.as_item()) == long


def test_the_poller_takes_what_the_hour_leaves_above_the_reserve() -> None:
    assert BudgetView("h").allowance(0.2, cap=500) == 500  # nothing known: DocuSign's default 3,000
    assert BudgetView("h", limit=3000, remaining=700).allowance(0.2, cap=500) == 100
    assert BudgetView("h", limit=3000, remaining=500).allowance(0.2, cap=500) == 0
    assert BudgetView("h", calls=2900).allowance(0.2, cap=500) == 0
    assert over_reserve(None, None, 0.2)
    assert over_reserve(601, 3000, 0.2)
    assert not over_reserve(600, 3000, 0.2)
    assert canonical(NOW) == "2026-12-02T10:00:00.0000000Z"
