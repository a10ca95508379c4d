"""Injected faults and the hourly API budget, as a DocuSign client would meet them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("429", "500", "503", "delay", "hourly_limit")
API_PREFIX = "/restapi/"

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
    retry_after: int = 1
    delay: float = 0.0
    status: int | None = None
    body: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (self.method is None or self.method == method)

    def answer_status(self) -> int:
        if self.status is not None:
            return self.status
        # DocuSign long answered the hourly limit with 400; it has been moving these to 429.
        return 400 if self.kind == "hourly_limit" else int(self.kind)

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
        retry_after=int(body.get("retryAfter", 1)),
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
    limit: int
    remaining: int
    reset: int  # Unix time when the window starts again, as X-RateLimit-Reset says

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class HourlyBudget:
    """DocuSign's per-account hourly call budget (3,000 by default), a fixed one-hour window."""

    WINDOW = 3600

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._window_start = time.time()
        self._used = 0

    def _roll(self) -> None:
        now = time.time()
        if now >= self._window_start + self.WINDOW:
            self._window_start = now
            self._used = 0

    def charge(self) -> tuple[Budget, bool]:
        """Count one call; ``True`` when it is over the budget (and so refused)."""
        with self._lock:
            self._roll()
            exceeded = self._used >= self.limit
            if not exceeded:
                self._used += 1
            return self._budget(), exceeded

    def peek(self) -> Budget:
        """The budget as it stands, without counting a call (for refused, unauthenticated calls)."""
        with self._lock:
            self._roll()
            return self._budget()

    def exhausted(self) -> Budget:
        with self._lock:
            self._roll()
            return Budget(self.limit, 0, int(self._window_start + self.WINDOW))

    def _budget(self) -> Budget:
        return Budget(self.limit, max(self.limit - self._used, 0), int(self._window_start + self.WINDOW))

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit

    def reset(self) -> None:
        with self._lock:
            self._window_start = time.time()
            self._used = 0
