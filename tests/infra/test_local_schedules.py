"""`make run`'s scheduler reads the template's schedules and fires them as EventBridge Scheduler would."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from infra.local.schedules import Schedule, Scheduler, fire, schedules
from infra.local.tick import chosen
from infra.local.worker import InvocationError
from tests.conftest import TEST_STACK


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.failures = failures
        self.fired = threading.Event()

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        self.fired.set()
        if self.failures:
            self.failures -= 1
            raise InvocationError("boom")
        return {"queued": 1}


def test_the_status_poll_schedule_is_read_from_the_template() -> None:
    (schedule,) = schedules(TEST_STACK)
    assert (schedule.function, schedule.expression, schedule.period_seconds) == (
        "StatusPollScheduleFunction",
        "rate(15 minutes)",
        900,
    )
    assert schedule.event() == {"source": "dealwire.status_poll"}
    assert schedule.retries == 3
    assert chosen(TEST_STACK, "status_poll") == schedule
    assert chosen(TEST_STACK, "StatusPollScheduleFunction") == schedule
    with pytest.raises(SystemExit, match="no schedule for 'mail_ingest'"):
        chosen(TEST_STACK, "mail_ingest")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(2 hours)", 7200), ("rate(1 day)", 86400), ("cron(0 * * * ? *)", None)],
)
def test_rates_and_crons(expression: str, seconds: int | None) -> None:
    assert Schedule("F", "E", expression, {}, 0).period_seconds == seconds


def test_a_failed_tick_is_retried_as_the_policy_says_then_raised() -> None:
    schedule = Schedule("F", "E", "rate(1 minute)", {"a": 1}, retries=2)
    flaky = Recorder(failures=2)
    assert fire(schedule, flaky) == {"queued": 1}
    assert flaky.events == [{"a": 1}] * 3
    with pytest.raises(InvocationError):
        fire(schedule, Recorder(failures=3))


def test_the_scheduler_fires_each_rate_schedule_after_its_period_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Schedule, "period_seconds", property(lambda _: 0.05))
    stop = threading.Event()
    recorder = Recorder()
    scheduler = Scheduler(TEST_STACK, {"StatusPollScheduleFunction": recorder}, stop)
    scheduler.start()
    assert recorder.fired.wait(5)
    stop.set()
    scheduler.join(5)
    assert recorder.events[0] == {"source": "dealwire.status_poll"}
