"""API Gateway (HTTP API, payload 2.0) locally: route requests on loopback to the function workers."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from infra.local.jwt_issuer import Unauthorized
from infra.local.worker import ACCOUNT_ID, InvocationError

if TYPE_CHECKING:
    from infra.local.jwt_issuer import JwtAuthorizer
    from infra.local.streams import Invoker

log = logging.getLogger("dealwire.local.gateway")

# API Gateway's payload limit; the function applies its own, lower, limit after this.
MAX_BODY_BYTES = 10 * 1024 * 1024
API_ID = "local"
_TEXT_TYPES = re.compile(r"^(text/.*|application/([\w.+-]*\+)?(json|xml)|application/x-www-form-urlencoded)$")


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # an HTTP method or ANY
    template: str  # /webhooks/docusign/{tenantId}, or a greedy {proxy+} at the end
    function: str
    pattern: re.Pattern[str]
    authorizer: str | None = None  # the template's JWT authorizer guarding the route

    @classmethod
    def of(cls, method: str, template: str, function: str, authorizer: str | None = None) -> Route:
        parts = []
        for segment in template.strip("/").split("/"):
            match = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
            if match is None:
                parts.append(re.escape(segment))
            elif match[2]:
                parts.append(f"(?P<{match[1]}>.+)")
            else:
                parts.append(f"(?P<{match[1]}>[^/]+)")
        return cls(method.upper(), template, function, re.compile("/" + "/".join(parts)), authorizer)

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers literal paths to parameters, and a method to ANY."""
        greedy = "+}" in self.template
        return (int(greedy), self.template.count("{"), int(self.method == "ANY"))


# A page's answer: status, content type, body, and any headers of its own (a CSP, say).
Page = Callable[[], tuple[int, str, bytes, tuple[tuple[str, str], ...]]]


class Gateway:
    """The routes of ``stack.http_routes()`` served by a ThreadingHTTPServer on loopback.

    A route the template guards with its JWT authorizer is checked by ``authorizer`` as
    API Gateway would (no authorizer given: such routes answer 401, failing closed).
    ``pages`` are local-only GET paths (the JWKS, the API's docs) no function serves.
    """

    def __init__(
        self,
        routes: list[tuple[str, str, str, str | None]],
        workers: dict[str, Invoker],
        port: int,
        *,
        authorizer: JwtAuthorizer | None = None,
        pages: dict[str, Page] | None = None,
    ) -> None:
        self.routes = sorted((Route.of(*route) for route in routes), key=lambda r: r.specificity)
        self.workers = workers
        self.authorizer = authorizer
        self.pages = dict(pages or {})
        handler = type("BoundHandler", (_Handler,), {"gateway": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in {method, "ANY"}:
                continue
            found = route.pattern.fullmatch(path)
            if found is not None:
                return route, found.groupdict()
        return None


def _is_text(content_type: str) -> bool:
    return bool(_TEXT_TYPES.match(content_type.split(";", 1)[0].strip().lower()))


def build_event(
    *,
    route: Route,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    path_parameters: dict[str, str],
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway would hand the function for this request."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            # Payload 2.0 moves cookies out of the headers into their own list.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[lowered] = f"{merged[lowered]},{value}" if lowered in merged else value
    # API Gateway sets these itself, whatever the client sent; the local gateway speaks plain HTTP.
    merged["x-forwarded-for"] = source_ip
    merged["x-forwarded-proto"] = "http"
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": merged.get("host", "127.0.0.1"),
            "domainPrefix": merged.get("host", "127.0.0.1").split(".", 1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        text = None
        if _is_text(merged.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        # Text round-trips byte-for-byte (the HMAC is over the bytes); anything else goes as base64.
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = text is None
    return event


class _Handler(BaseHTTPRequestHandler):
    gateway: ClassVar[Gateway]
    protocol_version = "HTTP/1.1"
    server_version = "dealwire-local-gateway"

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - http.server looks methods up by name
        """Any other method (TRACE, a made-up one) is routed too: API Gateway answers it, never a 501."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401 - http.server's signature
        log.info("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        found = self.gateway.match(self.command, parts.path)
        body = self._read_body()
        if body is None:
            return
        page = self.gateway.pages.get(parts.path) if self.command in {"GET", "HEAD"} else None
        if found is None and page is not None:
            status, content_type, content, headers = page()
            self._send(status, [("Content-Type", content_type), *headers], content)
            return
        if found is None:
            self._json(404, {"message": "Not Found"})
            return
        route, parameters = found
        claims: dict[str, str] | None = None
        if route.authorizer is not None:
            claims = self._authorized(route)
            if claims is None:
                return
        event = build_event(
            route=route,
            method=self.command,
            raw_path=parts.path,
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            path_parameters=parameters,
        )
        if claims is not None:
            scopes = claims.get("scope", "").split() or None
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": scopes}}
        try:
            result = self.gateway.workers[route.function].invoke(event)
        except InvocationError as exc:
            log.error("%s failed: %s", route.function, exc.summary)
            self._json(502, {"message": "Bad Gateway", "error": exc.error_type})
            return
        self._respond(result)

    def _authorized(self, route: Route) -> dict[str, str] | None:
        """The token's claims, or None after answering 401 as API Gateway's authorizer does."""
        authorizer = self.gateway.authorizer
        try:
            if authorizer is None:
                raise Unauthorized(
                    f"route {route.key} needs authorizer {route.authorizer}, and none is set up"
                )
            return authorizer.claims(self.headers.get("Authorization"))
        except Unauthorized as refused:
            log.info("401 for %s %s: %s", self.command, urlsplit(self.path).path, refused)
            self._send(
                401,
                [("Content-Type", "application/json"), ("WWW-Authenticate", refused.www_authenticate())],
                b'{"message":"Unauthorized"}',
            )
            return None

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 413 or 400 (and closing the connection)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._json(400, {"message": "Bad Request"}, close=True)
            return None
        if length > MAX_BODY_BYTES:
            # Not read: the connection is closed instead, so an oversized upload costs nothing.
            self._json(413, {"message": "Request Entity Too Large"}, close=True)
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self._json(400, {"message": "Bad Request"}, close=True)
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                self._json(413, {"message": "Request Entity Too Large"}, close=True)
                return None
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _respond(self, result: Any) -> None:  # noqa: ANN401 - whatever the handler returned
        if not (isinstance(result, dict) and "statusCode" in result):
            # Payload 2.0: a result without statusCode is taken as a 200 JSON body.
            self._json(200, result)
            return
        raw = result.get("body") or ""
        try:
            body = (
                base64.b64decode(raw, validate=True) if result.get("isBase64Encoded") else str(raw).encode()
            )
        except (binascii.Error, ValueError):
            log.error("function returned isBase64Encoded with a body that is not base64")
            self._json(502, {"message": "Bad Gateway", "error": "MalformedResponse"})
            return
        headers: list[tuple[str, str]] = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((name, str(value)) for value in values)
        headers.extend(("Set-Cookie", cookie) for cookie in result.get("cookies") or [])
        self._send(int(result["statusCode"]), headers, body)

    def _json(self, status: int, payload: Any, *, close: bool = False) -> None:  # noqa: ANN401
        self._send(status, [("Content-Type", "application/json")], json.dumps(payload).encode(), close=close)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Apigw-Requestid", uuid.uuid4().hex[:16])
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
