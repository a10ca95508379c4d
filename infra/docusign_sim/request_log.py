"""The DocuSign API requests the simulator answered (REST and OAuth), so tests can count calls at DocuSign."""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from infra.docusign_sim.model import rest_time

if TYPE_CHECKING:
    from collections.abc import Mapping

# The newest requests kept: enough for a bench of 10,000 envelopes polled several times over.
MAX_KEPT = 100_000
LOGGED_PREFIXES = ("/restapi/", "/oauth/")


def error_code(status: int, content_type: str, body: bytes) -> str | None:
    """The refusal's code: REST's ``errorCode``, or OAuth's ``error``; ``None`` for a success.
    Only refusals are parsed, so a large listing costs nothing here."""
    if status < 400 or not content_type.startswith("application/json"):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    code = answer.get("errorCode", answer.get("error"))
    return code if isinstance(code, str) else None


class RequestLog:
    """Thread-safe and bounded: the oldest entries go once ``limit`` are kept."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    @staticmethod
    def logs(path: str) -> bool:
        return path.startswith(LOGGED_PREFIXES)

    def add(self, method: str, path: str, query: Mapping[str, str], status: int, code: str | None) -> None:
        entry = {
            "method": method,
            "path": path,
            "query": dict(query),
            "status": status,
            "errorCode": code,
            "at": rest_time(datetime.now(UTC)),
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Oldest first."""
        with self._lock:
            return [dict(entry, query=dict(entry["query"])) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
