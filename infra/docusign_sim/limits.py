"""Injected faults and the hourly API budget, as a DocuSign client would meet them."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

FAULT_KINDS = ("429", "500", "503", "delay", "hourly_limit", "drop_response")
# Faults that do not answer in the request's place: the request is served (late, or unanswered).
SERVED_FAULTS = ("delay", "drop_response")
API_PREFIX = "/restapi/"
ENVELOPE_POLLING_LIMIT_EXCEEDED = "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED"
# What DocuSign answers its limits with: 400 for years, 429 since its 2026 change.
LIMIT_STATUSES = (400, 429)

_DEFAULT_BODIES: dict[str, dict[str, str]] = {
    "429": {
        "errorCode": "BURST_APIINVOCATION_LIMIT_EXCEEDED",
        "message": "The maximum number of burst API invocations has been exceeded.",
    },
    "500": {"errorCode": "UNSPECIFIED_ERROR", "message": "An unexpected error occurred. (simulated)"},
    "503": {
        "errorCode": "SERVICE_UNAVAILABLE",
        "message": "The service is temporarily unavailable. (simulated)",
    },
}


@dataclass(slots=True)
class Fault:
    """The next ``remaining`` requests whose path starts with ``path_prefix`` get this answer."""

    kind: str
    remaining: int
    path_prefix: str = API_PREFIX
    method: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    status: int | None = None
    body: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (self.method is None or self.method == method)

    def answer_status(self, limit_status: int) -> int:
        """``limit_status``: what the account answers its limits with (400 or 429)."""
        if self.status is not None:
            return self.status
        return limit_status if self.kind == "hourly_limit" else int(self.kind)

    def answer_retry_after(self) -> int | None:
        """A burst or 503 tells when to retry (1 s unless given); the hourly limit's answer,
        like DocuSign's, points at X-RateLimit-Reset instead, unless a Retry-After is asked for."""
        if self.kind in ("429", "503"):
            return 1 if self.retry_after is None else self.retry_after
        return self.retry_after if self.kind == "hourly_limit" else None

    def answer_body(self, hourly_limit: int) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        if self.kind == "hourly_limit":
            return hourly_limit_body(hourly_limit)
        return dict(_DEFAULT_BODIES[self.kind])

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "pathPrefix": self.path_prefix,
            "method": self.method,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "status": self.status,
            "body": self.body,
        }


def hourly_limit_body(limit: int) -> dict[str, str]:
    return {
        "errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
        "message": (
            f"The maximum number of hourly API invocations has been exceeded. The hourly limit is {limit}."
        ),
    }


def parse_fault(body: object) -> Fault:
    if not isinstance(body, dict) or str(body.get("kind")) not in FAULT_KINDS:
        raise ValueError(f"a fault needs kind, one of {FAULT_KINDS}")
    count = int(body.get("count", 1))
    if count < 1:
        raise ValueError("count must be at least 1")
    answer_body = body.get("body")
    if answer_body is not None and not isinstance(answer_body, dict):
        raise ValueError("body must be a JSON object")
    method = body.get("method")
    status = body.get("status")
    return Fault(
        kind=str(body["kind"]),
        remaining=count,
        path_prefix=str(body.get("pathPrefix") or API_PREFIX),
        method=str(method).upper() if method else None,
        retry_after=int(body["retryAfter"]) if body.get("retryAfter") is not None else None,
        delay=float(body.get("delay", 0.0)),
        status=int(status) if status is not None else None,
        body=answer_body,
    )


class FaultPlan:
    """Faults in the order they were added; the first that matches a request is used up by it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass(frozen=True, slots=True)
class Budget:
    """The account's two windows as one answer reports them."""

    limit: int
    remaining: int
    reset: int  # Unix time when the hourly window starts again, as X-RateLimit-Reset says
    burst_limit: int
    burst_remaining: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-BurstLimit-Limit": str(self.burst_limit),
            "X-BurstLimit-Remaining": str(self.burst_remaining),
        }


class ApiBudget:
    """DocuSign's per-account call limits: an hourly budget (3,000 by default) that starts
    again at the top of every clock hour, and a 30-second burst window (500 by default in
    production, 200 in DocuSign's developer environment). Burst windows are aligned on
    multiples of 30 s. A refused call spends neither budget.
    """

    HOUR = 3600
    BURST_WINDOW = 30

    def __init__(self, limit: int, burst_limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.burst_limit = burst_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._hour = self._burst = -1
        self._used = self._burst_used = 0

    def _roll(self) -> None:
        now = self._clock()
        hour, burst = int(now // self.HOUR), int(now // self.BURST_WINDOW)
        if hour != self._hour:
            self._hour, self._used = hour, 0
        if burst != self._burst:
            self._burst, self._burst_used = burst, 0

    def charge(self) -> tuple[Budget, Literal["hourly", "burst"] | None]:
        """Count one call; the limit that refuses it, if one does."""
        with self._lock:
            self._roll()
            refusal: Literal["hourly", "burst"] | None = None
            if self._used >= self.limit:
                refusal = "hourly"
            elif self._burst_used >= self.burst_limit:
                refusal = "burst"
            else:
                self._used += 1
                self._burst_used += 1
            return self._budget(), refusal

    def peek(self) -> Budget:
        """The budget as it stands, without counting a call (for refused, unauthenticated calls)."""
        with self._lock:
            self._roll()
            return self._budget()

    def exhausted(self) -> Budget:
        """The budget as the hourly limit's answer reports it (an injected fault)."""
        with self._lock:
            self._roll()
            budget = self._budget()
        return Budget(budget.limit, 0, budget.reset, budget.burst_limit, budget.burst_remaining)

    def _budget(self) -> Budget:
        return Budget(
            self.limit,
            max(self.limit - self._used, 0),
            (self._hour + 1) * self.HOUR,
            self.burst_limit,
            max(self.burst_limit - self._burst_used, 0),
        )

    def set_limits(self, limit: int, burst_limit: int) -> None:
        with self._lock:
            self.limit, self.burst_limit = limit, burst_limit

    def reset(self) -> None:
        """Both windows start full again (``POST /_sim/reset``)."""
        with self._lock:
            self._used = self._burst_used = 0


class EnvelopePolling:
    """DocuSign's per-envelope polling rule: at most ``limit`` polls of one envelope in any
    ``window`` seconds; by DocuSign's guideline one per 15 minutes. A poll is a GET of the
    envelope (itself or anything in it: recipients, documents, custom fields) or a
    listStatusChanges naming it in ``envelope_ids``. Refused calls do not count."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._reads: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, envelope_ids: Iterable[str]) -> bool:
        """Count one poll of each envelope (each once); ``False``, counting none, when any of them
        is one too many."""
        with self._lock:
            now = self._clock()
            polled = [self._reads[envelope_id] for envelope_id in dict.fromkeys(envelope_ids)]
            for reads in polled:
                while reads and reads[0] <= now - self.window:
                    reads.popleft()
            if any(len(reads) >= self.limit for reads in polled):
                return False
            for reads in polled:
                reads.append(now)
            return True

    def set_rule(self, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = limit, window

    def reset(self) -> None:
        with self._lock:
            self._reads.clear()


def limit_body(kind: Literal["hourly", "burst", "polling"], hourly_limit: int) -> dict[str, str]:
    """The error body of a limit's refusal."""
    if kind == "hourly":
        return hourly_limit_body(hourly_limit)
    if kind == "burst":
        return dict(_DEFAULT_BODIES["429"])
    return {
        "errorCode": ENVELOPE_POLLING_LIMIT_EXCEEDED,
        "message": "The maximum number of hourly polling requests for this envelope has been exceeded. "
        "(simulated: DocuSign does not publish its exact limit)",
    }
