"""The local stack's moto server, counting every request by caller, service and operation.

Each function worker signs with an access key of its own (``local-<LogicalId>``), so the
count says what each function cost: what `make demo` reports per step, as AWS would bill it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from werkzeug.serving import BaseWSGIServer

# The gateway's local-only page with the counts so far, as RequestCounter.snapshot() gives them.
AWS_REQUESTS_PATH = "/_local/aws-requests"
# A function's credentials: what its worker's environment sets and its requests are counted by.
FUNCTION_KEY_PREFIX = "local-"
# Credential=<key>/<date>/<region>/<service>/aws4_request, in the header or a presigned URL.
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_S3_OPERATIONS = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


# The caller of a request made with a presigned link.
PRESIGNED = "presigned-link"


def function_access_key(logical: str) -> str:
    return f"{FUNCTION_KEY_PREFIX}{logical}"


def describe(environ: dict[str, Any]) -> tuple[str, str, str]:
    """(caller's access key, service, operation) of one signed request; "?" where unsigned."""
    query = environ.get("QUERY_STRING", "")
    found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, service = found.groups() if found else ("?", "?")
    if found is None and (presigned := parse_qs(query).get("X-Amz-Credential")):
        # A presigned link's holder (a browser, a CRM) asked, not the function that signed it.
        signed = _CREDENTIAL.search(f"Credential={presigned[0]}")
        key, service = PRESIGNED, signed.group(2) if signed else "?"
    elif found is None and "AWSAccessKeyId" in parse_qs(query):
        key, service = PRESIGNED, "s3"  # Signature Version 2: only S3 presigns with it
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif action := parse_qs(query).get("Action"):
        operation = action[0]
    elif service == "s3":
        method = environ.get("REQUEST_METHOD", "?")
        operation = _S3_OPERATIONS.get(method, method) if method != "POST" else "PostObject"
    else:
        operation = environ.get("REQUEST_METHOD", "?")
    return key, service, operation


class RequestCounter:
    """WSGI middleware: counts each request, then lets moto answer it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        described = describe(environ)
        with self._lock:
            self._counts[described] += 1
        return self.app(environ, start_response)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{caller: {"service:Operation": count}}``: callers are the functions' logical ids,
        ``presigned-link`` and ``local`` (the stack's own pollers, the SMTP edge, a script)."""
        with self._lock:
            counts = dict(self._counts)
        result: dict[str, dict[str, int]] = {}
        for (key, service, operation), count in sorted(counts.items()):
            if key.startswith(FUNCTION_KEY_PREFIX):
                caller = key.removeprefix(FUNCTION_KEY_PREFIX)
            else:
                caller = key if key == PRESIGNED else "local"
            calls = result.setdefault(caller, {})
            calls[f"{service}:{operation}"] = calls.get(f"{service}:{operation}", 0) + count
        return result


class CountingMotoServer:
    """moto's ThreadedMotoServer, with a :class:`RequestCounter` in front of its application."""

    def __init__(self, ip_address: str, port: int) -> None:
        self.ip_address, self.port = ip_address, port
        self.counter: RequestCounter | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # moto is a dev dependency and slow to import: only when the stack starts.
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        self.counter = RequestCounter(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self.ip_address, self.port, self.counter, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
