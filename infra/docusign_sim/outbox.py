"""Connect delivery: callbacks POSTed one at a time, in order, each outcome recorded and told."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from infra.docusign_sim.callback_loss import DROPPED, DROPPED_FAILURE
from infra.docusign_sim.connect import NO_CONFIGURATION
from infra.docusign_sim.model import rest_time

if TYPE_CHECKING:
    from collections.abc import Callable

    from infra.docusign_sim.connect import Outbound

log = logging.getLogger("dealwire.docusign_sim.connect")

_RESPONSE_KEPT = 2000  # characters of the listener's answer kept per callback


def listener_error(status: int) -> str:
    """A listener's non-2xx answer in the words of Connect's failure log (.NET's WebException)."""
    try:
        reason = f" {HTTPStatus(status).phrase}"
    except ValueError:
        reason = ""
    return f"The remote server returned an error: ({status}){reason}."


def connection_error(exc: BaseException) -> str:
    """A delivery that got no answer, in the words .NET gives Connect's failure log."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return "The operation has timed out."
    return "Unable to connect to the remote server"


class Outbox:
    """Callbacks queued under the state lock, delivered outside it, one at a time, in order.

    Synchronous by default: the request that caused the events returns after they were
    answered. With ``asynchronous`` a worker thread delivers them instead, as DocuSign does.
    """

    def __init__(
        self, timeout: float, on_delivered: Callable[[Outbound, str | None, datetime], None] | None = None
    ) -> None:
        """``on_delivered`` is told of each delivery tried (or dropped): the message, the failure
        log's error (``None`` when the listener answered 2xx), when."""
        self.timeout = timeout
        self._on_delivered = on_delivered
        self._pending: deque[Outbound] = deque()
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._delivering = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None
        # Loopback listeners must not go through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def put(self, messages: list[Outbound]) -> None:
        with self._lock:
            self._pending.extend(messages)
        self._wake.set()

    def drain(self) -> list[dict[str, Any]]:
        """Deliver everything queued so far; the records of what this call delivered."""
        done: list[dict[str, Any]] = []
        with self._delivering:
            while True:
                with self._lock:
                    if not self._pending:
                        return done
                    message = self._pending.popleft()
                done.append(self._deliver(message))

    def start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="docusign-sim-connect", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=self.timeout + 1)
            self._worker = None
        self._stopped.clear()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self.drain()

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _deliver(self, message: Outbound) -> dict[str, Any]:
        record: dict[str, Any] = {
            "sequence": message.sequence,
            "event": message.event,
            "envelopeId": message.envelope_id,
            "recipientId": message.recipient_id,
            "generatedDateTime": message.generated,
            "format": message.connect_format,
            "url": message.url,
            "connectId": message.connect_id,
            "contentType": message.content_type,
            "signatures": list(message.signatures),
            "body": message.body.decode("utf-8"),
            "sentAt": rest_time(datetime.now(UTC)),
            "status": None,
            "responseBody": None,
            "error": None,
            "outcome": "not_sent",
            "republished": message.republish,
            "durationMs": 0.0,
        }
        started = time.monotonic()
        failure: str | None = None
        if message.not_sent is not None or not message.url:
            record["error"] = message.not_sent or NO_CONFIGURATION
        elif message.dropped:
            record["error"], record["outcome"] = DROPPED, "dropped"
            failure = DROPPED_FAILURE
        elif not message.url.startswith(("http://", "https://")):
            record["error"] = f"webhook URL {message.url!r} is not http(s)"
        else:
            headers = {"Content-Type": message.content_type, "User-Agent": "DocuSign-Connect-Simulator"}
            headers |= {f"X-DocuSign-Signature-{n}": s for n, s in enumerate(message.signatures, start=1)}
            request = urllib.request.Request(message.url, data=message.body, headers=headers, method="POST")  # noqa: S310 - scheme checked above
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    record["status"] = response.status
                    record["responseBody"] = response.read().decode("utf-8", "replace")[:_RESPONSE_KEPT]
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
                record["responseBody"] = exc.read().decode("utf-8", "replace")[:_RESPONSE_KEPT]
            except (OSError, ValueError) as exc:  # refused, timed out, unreachable, malformed URL
                record["error"] = f"{type(exc).__name__}: {exc}"
                failure = connection_error(exc)
            if record["status"] is not None and not 200 <= record["status"] < 300:
                failure = listener_error(record["status"])
            record["outcome"] = (
                "unanswered" if record["status"] is None else "refused" if failure else "delivered"
            )
        record["durationMs"] = round((time.monotonic() - started) * 1000, 1)
        message.outcome, message.failure = record["outcome"], failure
        if record["outcome"] != "not_sent" and self._on_delivered is not None:
            self._on_delivered(message, failure, datetime.now(UTC))
        log.info(
            "connect %s %s -> %s", message.event, message.envelope_id, record["status"] or record["error"]
        )
        with self._lock:
            self._records.append(record)
        return dict(record)
