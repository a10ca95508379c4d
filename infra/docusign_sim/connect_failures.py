"""Connect's failure log (``connect/failures``): deliveries a listener refused, timed out or never took,
until the retry queue publishes the envelope again and the listener takes it.

Written from the delivery thread, outside the account lock, so it has its own lock.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.docusign_sim.errors import SimError
from infra.docusign_sim.model import rest_time

if TYPE_CHECKING:
    from datetime import datetime

    from infra.docusign_sim.connect import Outbound

ALL = "all"  # DocuSign's failureId for "every failure of the account"


@dataclass(frozen=True, slots=True)
class Failure:
    failure_id: str
    created: datetime
    entry: dict[str, Any]  # connectLog as DocuSign lists it


class ConnectFailures:
    def __init__(self) -> None:
        self._failures: list[Failure] = []
        self._lock = threading.Lock()

    def delivered(self, message: Outbound, error: str | None, when: datetime) -> None:
        """The log's rule for one delivery tried (``error``: ``None`` when the listener answered 2xx).
        A failure is logged; a republished envelope's failure updates that envelope's entries for
        the configuration (``retryCount`` + 1, ``lastTry``, ``error``), or is logged anew when it has
        none; a republished envelope the listener took leaves the log for that configuration."""
        if error is None:
            if message.republish:
                self.resolve(message.envelope_id, message.connect_id)
        elif not (message.republish and self._retried(message, error, when)):
            self.record(message, error, when)

    def resolve(self, envelope_id: str, connect_id: str | None) -> None:
        with self._lock:
            self._failures = [f for f in self._failures if not _of(f, envelope_id, connect_id)]

    def _retried(self, message: Outbound, error: str, when: datetime) -> bool:
        with self._lock:
            found = False
            for index, failure in enumerate(self._failures):
                if _of(failure, message.envelope_id, message.connect_id):
                    entry = failure.entry | {
                        "lastTry": rest_time(when),
                        "retryCount": str(int(failure.entry["retryCount"]) + 1),
                        "status": message.envelope_status.capitalize(),
                        "error": error,
                    }
                    self._failures[index] = Failure(failure.failure_id, failure.created, entry)
                    found = True
            return found

    def record(self, message: Outbound, error: str, when: datetime) -> None:
        """One failed delivery of ``message`` to its configuration."""
        failure_id = str(uuid.uuid4())
        entry = {
            "failureId": failure_id,
            "accountId": message.account_id,
            "envelopeId": message.envelope_id,
            "connectId": message.connect_id,
            "configUrl": message.url,
            "created": rest_time(when),
            "lastTry": rest_time(when),
            "retryCount": "0",
            # connectLog's statuses are capitalized: Sent, Delivered, Completed, Declined, Voided...
            "status": message.envelope_status.capitalize(),
            "error": error,
            "email": message.sender_email,
            "userName": message.sender_name,
            "subject": message.subject,
            "failureUri": f"/connect/failures/{failure_id}",
            "retryUri": f"/connect/envelopes/{message.envelope_id}/retry_queue",
        }
        with self._lock:
            self._failures.append(Failure(failure_id, when, entry))

    def listing(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """connectLogs: the failures created within the dates given, oldest first."""
        with self._lock:
            found = [
                dict(f.entry)
                for f in self._failures
                if (since is None or f.created >= since) and (until is None or f.created <= until)
            ]
        return {"failures": found, "totalRecords": str(len(found))}

    def delete(self, failure_id: str) -> None:
        with self._lock:
            if failure_id == ALL:
                self._failures.clear()
                return
            for index, failure in enumerate(self._failures):
                if failure.failure_id == failure_id:
                    del self._failures[index]
                    return
        raise SimError(
            404, "CONNECT_FAILURE_NOT_FOUND", f"The Connect failure log entry does not exist: {failure_id}."
        )

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


def _of(failure: Failure, envelope_id: str, connect_id: str | None) -> bool:
    entry = failure.entry
    return bool(entry["envelopeId"] == envelope_id and entry["connectId"] == connect_id)
