"""EventBridge Scheduler, locally: each `ScheduleV2` event of template.yaml invokes its function at its rate.

Only ``rate(...)`` expressions run on their own here (a cron expression is listed and can
be fired with ``python -m infra.local.tick``). A failed invocation is logged and retried
as the schedule's ``RetryPolicy`` says, as Scheduler would, then given up for that tick.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.local.worker import InvocationError

if TYPE_CHECKING:
    from infra.local.streams import Invoker
    from infra.local.template import Stack

log = logging.getLogger("dealwire.local.schedules")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Schedule:
    function: str
    name: str
    expression: str
    input: dict[str, Any]
    retries: int

    @property
    def period_seconds(self) -> int | None:
        """The rate in seconds; None for a cron expression."""
        match = _RATE.match(self.expression.strip())
        if match is None:
            return None
        return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]

    def event(self) -> dict[str, Any]:
        """What Scheduler hands the function: the target's Input, as it is."""
        return dict(self.input)


def schedules(stack: Stack) -> list[Schedule]:
    """Every ``ScheduleV2`` (and ``Schedule``) event of the template's functions."""
    found = []
    for logical, resource in stack.resources("AWS::Serverless::Function").items():
        for name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] not in {"ScheduleV2", "Schedule"}:
                continue
            properties = event["Properties"]
            raw_input = stack.resolve(properties.get("Input", "{}"))
            found.append(
                Schedule(
                    function=logical,
                    name=name,
                    expression=str(stack.resolve(properties["ScheduleExpression"])),
                    input=json.loads(raw_input) if isinstance(raw_input, str) else dict(raw_input),
                    retries=int(properties.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0)),
                )
            )
    return found


def fire(schedule: Schedule, invoker: Invoker) -> Any:  # noqa: ANN401 - the handler's answer
    """One tick: invoke, retrying as the schedule's policy says; the last error is raised."""
    for attempt in range(schedule.retries + 1):
        try:
            return invoker.invoke(schedule.event())
        except InvocationError as exc:
            log.warning(
                "%s.%s failed (attempt %d): %s", schedule.function, schedule.name, attempt + 1, exc.summary
            )
            if attempt == schedule.retries:
                raise
    return None


class Scheduler:
    """A thread per rate schedule, invoking its function every period until ``stop`` is set."""

    def __init__(self, stack: Stack, invokers: dict[str, Invoker], stop: threading.Event) -> None:
        self.schedules = schedules(stack)
        self._invokers = invokers
        self._stop = stop
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for schedule in self.schedules:
            period = schedule.period_seconds
            if period is None:
                log.info(
                    "%s.%s (%s) does not run by itself locally",
                    schedule.function,
                    schedule.name,
                    schedule.expression,
                )
                continue
            thread = threading.Thread(
                target=self._run, args=(schedule, period), name=f"schedule-{schedule.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            log.info("schedule %s.%s: %s", schedule.function, schedule.name, schedule.expression)

    def _run(self, schedule: Schedule, period: int) -> None:
        # As Scheduler does, the first invocation comes one period after the schedule is made.
        while not self._stop.wait(period):
            try:
                fire(schedule, self._invokers[schedule.function])
            except InvocationError:
                log.exception("%s.%s: given up for this tick", schedule.function, schedule.name)

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
