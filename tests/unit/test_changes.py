"""The ordering rule: any arrival order, with any duplicates, ends in the in-order state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealwire.domain.changes import apply_in_memory, order_key, plan_writes
from dealwire.domain.envelope_event import ConnectEvent, EnvelopeState, RecipientState
from tests.support import ACCOUNT_ID, ENVELOPE_ID

State = dict[tuple[str, str], dict[str, Any]]


def _at(minute: int, fraction: str = "0000000") -> str:
    return f"2024-03-04T16:{minute:02d}:00.{fraction}Z"


def snapshot_timeline(signers: int) -> list[ConnectEvent]:
    """A realistic envelope life with envelope data on: each message carries the whole state."""
    events: list[ConnectEvent] = []
    recipient_status = ["created"] * signers
    recipient_stamps: list[dict[str, str]] = [{} for _ in range(signers)]
    envelope_stamps: dict[str, str] = {"created_at": _at(0)}

    def emit(name: str, minute: int, envelope_status: str, fraction: str = "0000000") -> None:
        events.append(
            ConnectEvent(
                wire_format="sim",
                event=name,
                account_id=ACCOUNT_ID,
                envelope_id=ENVELOPE_ID,
                generated=_at(minute, fraction),
                snapshot=True,
                envelope=EnvelopeState(
                    status=envelope_status, subject="Deal", deal_id="d-1", timestamps=dict(envelope_stamps)
                ),
                recipients=tuple(
                    RecipientState(
                        recipient_id=str(i + 1),
                        status=recipient_status[i],
                        recipient_type="signer",
                        routing_order=i + 1,
                        email=f"s{i + 1}@example.com",
                        timestamps=dict(recipient_stamps[i]),
                    )
                    for i in range(signers)
                ),
            )
        )

    minute = 1
    envelope_stamps["sent_at"] = _at(minute)
    recipient_status[0] = "sent"
    recipient_stamps[0]["sent_at"] = _at(minute)
    emit("envelope-sent", minute, "sent")
    for i in range(signers):
        minute += 1
        recipient_status[i] = "delivered"
        recipient_stamps[i]["delivered_at"] = _at(minute)
        envelope_stamps.setdefault("delivered_at", _at(minute))
        emit("recipient-delivered", minute, "delivered" if i == 0 else "sent")
        minute += 1
        recipient_status[i] = "completed"
        recipient_stamps[i]["signed_at"] = _at(minute)
        last = i == signers - 1
        if not last:
            recipient_status[i + 1] = "sent"
            recipient_stamps[i + 1]["sent_at"] = _at(minute)
        else:
            envelope_stamps["completed_at"] = _at(minute)
        status = "completed" if last else "sent"
        emit("recipient-completed", minute, status)
        if last:
            # The last signature sends both recipient-completed and envelope-completed.
            emit("envelope-completed", minute, status, "5000000")
    return events


def minimal_timeline(signers: int) -> list[ConnectEvent]:
    """The same life with envelope data off: event names and ids only."""

    def event(name: str, minute: int, recipient: str | None = None) -> ConnectEvent:
        return ConnectEvent(
            wire_format="sim",
            event=name,
            account_id=ACCOUNT_ID,
            envelope_id=ENVELOPE_ID,
            generated=_at(minute),
            snapshot=False,
            envelope=EnvelopeState(status=None),
            recipients=(RecipientState(recipient_id=recipient, status=None),) if recipient else (),
            recipient_id=recipient,
        )

    events = [event("envelope-sent", 1)]
    minute = 1
    for i in range(signers):
        rid = str(i + 1)
        events.append(event("recipient-sent", minute, rid))
        minute += 1
        events.append(event("recipient-delivered", minute, rid))
        minute += 1
        events.append(event("recipient-completed", minute, rid))
    events.append(event("envelope-completed", minute))
    return events


def replay(events: list[ConnectEvent], order: list[int]) -> State:
    state: State = {}
    for index in order:
        for write in plan_writes(events[index], tenant_id="t", archive_key=f"archive/{index}"):
            key = (write.kind, write.recipient_id)
            state[key], _ = apply_in_memory(state.get(key), write)
    return state


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[ConnectEvent], list[int]]:
    timeline = draw(st.sampled_from([snapshot_timeline, minimal_timeline]))
    events = timeline(draw(st.integers(min_value=1, max_value=3)))
    duplicates = draw(st.lists(st.integers(min_value=0, max_value=len(events) - 1), max_size=8))
    return events, draw(st.permutations(list(range(len(events))) + duplicates))


@settings(max_examples=300, deadline=None)
@given(arrivals())
def test_any_permutation_with_duplicates_ends_in_the_in_order_state(
    case: tuple[list[ConnectEvent], list[int]],
) -> None:
    events, order = case
    assert replay(events, order) == replay(events, list(range(len(events))))


@pytest.mark.parametrize("timeline", [snapshot_timeline, minimal_timeline])
def test_the_in_order_state_is_the_finished_envelope(timeline: Any) -> None:
    state = replay(timeline(2), list(range(len(timeline(2)))))
    assert state[("envelope", "")]["status"] == "completed"
    assert state[("envelope", "")]["in_flight"] is False
    assert {state[("recipient", r)]["status"] for r in ("1", "2")} == {"completed"}
    assert state[("recipient", "1")]["delivered_at"] < state[("recipient", "1")]["signed_at"]


def test_equal_timestamps_are_settled_by_status_rank_then_by_the_message_time() -> None:
    same, later = "2024-01-01T00:00:00.0000000Z", "2024-01-01T00:00:00.0000001Z"
    assert order_key(same, 50, same, {"a": 1}) > order_key(same, 30, later, {"a": 1})
    assert order_key(later, 10, later, {}) > order_key(same, 50, later, {})
    # The same change, told by a later message (a callback after a poll's read): the later wins.
    assert order_key(same, 30, later, {"a": 1}) > order_key(same, 30, same, {"a": 2})


def test_a_stale_event_still_fills_a_timestamp_the_item_never_had() -> None:
    events = minimal_timeline(1)
    delivered = next(i for i, e in enumerate(events) if e.event == "recipient-delivered")
    completed = next(i for i, e in enumerate(events) if e.event == "recipient-completed")
    state = replay(events, [completed, delivered])
    recipient = state[("recipient", "1")]
    assert recipient["status"] == "completed"
    assert recipient["delivered_at"] == events[delivered].generated


def test_a_minimal_recipient_event_orders_no_envelope_state_but_asks_for_a_refresh() -> None:
    event = minimal_timeline(1)[1]
    envelope_write, recipient_write = plan_writes(event, tenant_id="t", archive_key="k")
    assert envelope_write.order is None
    assert envelope_write.always == {"needs_refresh": True}
    assert "status" not in envelope_write.ordered
    assert recipient_write.ordered["status"] == "sent"


def test_a_minimal_envelope_event_derives_status_from_its_name() -> None:
    event = minimal_timeline(1)[-1]
    (envelope_write,) = plan_writes(event, tenant_id="t", archive_key="k")
    assert envelope_write.ordered["status"] == "completed"
    assert envelope_write.fill["completed_at"] == event.generated
    assert envelope_write.always == {"needs_refresh": True}


def test_snapshot_events_do_not_ask_for_a_refresh() -> None:
    writes = plan_writes(snapshot_timeline(1)[0], tenant_id="t", archive_key="k")
    assert all("needs_refresh" not in w.always for w in writes)


def test_a_refresh_from_the_api_clears_the_refresh_request_even_when_stale() -> None:
    event = snapshot_timeline(1)[0]
    (envelope_write, *_) = plan_writes(event, tenant_id="t", archive_key="k", refreshed=True)
    assert envelope_write.always == {"needs_refresh": False}
    newer = snapshot_timeline(1)[-1]
    state: dict[str, Any] = {}
    for write in plan_writes(newer, tenant_id="t", archive_key="k"):
        if write.kind == "envelope":
            state, _ = apply_in_memory({**state, "needs_refresh": True}, write)
    state, fresh = apply_in_memory(state, envelope_write)
    assert not fresh
    assert state["needs_refresh"] is False


def _late(event: ConnectEvent, minutes: int) -> ConnectEvent:
    """The callback as Connect delivers it: generated some time after the change it reports."""
    moment = event.generated
    later = f"{moment[:14]}{int(moment[14:16]) + minutes:02d}{moment[16:]}"
    return replace(event, generated=later)


def _read(event: ConnectEvent) -> ConnectEvent:
    """A poll's read of the envelope in the state ``event`` reports: no message time of its own."""
    return replace(
        event, wire_format="api", event=f"envelope-{event.envelope.status}", generated=event.changed
    )


@st.composite
def callbacks_and_reads(draw: st.DrawFn) -> tuple[list[ConnectEvent], list[int]]:
    timeline = snapshot_timeline(draw(st.integers(min_value=1, max_value=3)))
    lags = draw(
        st.lists(st.integers(min_value=0, max_value=30), min_size=len(timeline), max_size=len(timeline))
    )
    events = [_late(event, lag) for event, lag in zip(timeline, lags, strict=True)]
    events += [_read(event) for event in timeline]
    chosen = draw(st.lists(st.integers(min_value=0, max_value=len(events) - 1), min_size=1, max_size=12))
    # The poll's read of the finished envelope always arrives, somewhere in the order.
    return events, draw(st.permutations([*chosen, len(events) - 1]))


@settings(max_examples=300, deadline=None)
@given(callbacks_and_reads())
def test_a_poll_and_late_callbacks_in_any_order_never_undo_a_later_change(
    case: tuple[list[ConnectEvent], list[int]],
) -> None:
    events, order = case
    state: State = {}
    finished = False
    for index in order:
        for write in plan_writes(events[index], tenant_id="t", archive_key=f"archive/{index}"):
            key = (write.kind, write.recipient_id)
            state[key], _ = apply_in_memory(state.get(key), write)
        status = state[("envelope", "")]["status"]
        # Once completed, nothing older brings it back: no second envelope.completed, no second document job.
        assert not (finished and status != "completed")
        finished = status == "completed"
    assert state[("envelope", "")]["in_flight"] is False


def test_a_callback_about_the_change_a_poll_recorded_is_fresh_but_changes_no_status() -> None:
    final = snapshot_timeline(2)[-1]
    read, callback = _read(final), _late(final, 1)
    state: State = {}
    fresh = []
    for event in (read, callback):
        for write in plan_writes(
            event, tenant_id="t", archive_key="k", source="poll" if event is read else "connect"
        ):
            key = (write.kind, write.recipient_id)
            state[key], was_fresh = apply_in_memory(state.get(key), write)
            fresh.append(was_fresh)
    assert all(fresh)
    assert state[("envelope", "")]["status"] == "completed"
    assert state[("envelope", "")]["last_source"] == "connect"
    # And the other way round: the poll's read of what Connect already told is stale.
    state = {}
    for event, source in ((callback, "connect"), (read, "poll")):
        for write in plan_writes(event, tenant_id="t", archive_key="k", source=source):
            key = (write.kind, write.recipient_id)
            state[key], was_fresh = apply_in_memory(state.get(key), write)
    assert state[("envelope", "")]["last_source"] == "connect"
    assert not was_fresh


def test_the_same_message_replayed_keys_the_same_whatever_brought_it() -> None:
    event = snapshot_timeline(1)[-1]
    (connect, *_), (replayed, *_) = (
        plan_writes(event, tenant_id="t", archive_key="k", source=source) for source in ("connect", "replay")
    )
    assert connect.order == replayed.order
    assert (connect.ordered["last_source"], replayed.ordered["last_source"]) == ("connect", "replay")
