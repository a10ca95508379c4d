"""The simulator's HTTP face: OAuth, eSignature REST v2.1 and the ``/_sim/`` control API on loopback."""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from infra.docusign_sim import connect_api
from infra.docusign_sim.account import Account, SimConfig, check_limits, id_list, updated_config
from infra.docusign_sim.auth import (
    JWT_BEARER,
    ConsentRedirected,
    ConsentRefused,
    OAuthError,
    TokenStore,
    consent_redirect,
    load_public_key,
    requested_scopes,
    verify_assertion,
)
from infra.docusign_sim.connect import ALL_EVENTS, FORMATS
from infra.docusign_sim.errors import SimError
from infra.docusign_sim.hmac_keys import MAX_KEYS
from infra.docusign_sim.limits import (
    API_PREFIX,
    SERVED_FAULTS,
    ApiBudget,
    EnvelopePolling,
    FaultPlan,
    limit_body,
    parse_fault,
)
from infra.docusign_sim.request_log import RequestLog, error_code

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

log = logging.getLogger("dealwire.docusign_sim")

HOST = "127.0.0.1"  # loopback only, whatever the caller asks
MAX_BODY_BYTES = 5 * 1024 * 1024
_ACCOUNT_PATH = re.compile(r"^/restapi/v2\.1/accounts/(?P<account>[^/]+)(?P<rest>/.*)?$")


class Answer:
    """An HTTP answer: status, body, content type and extra headers."""

    def __init__(
        self,
        status: int,
        body: bytes | dict[str, Any] | list[Any],
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.content_type = content_type
        self.headers = headers or {}


class Simulator:
    """A DocuSign account on ``http://127.0.0.1:<port>``: ``start()``, use ``url``, ``stop()``.

    ``port=0`` picks a free port. Everything is in memory and lost at ``stop()``.
    ``consent=False`` starts with a user who has not consented: the JWT grant answers
    ``consent_required`` until the consent page (``/oauth/auth``) is visited.
    """

    def __init__(
        self,
        *,
        account_id: str,
        integration_key: str,
        user_id: str,
        public_key_pem: str | bytes,
        port: int = 0,
        webhook_url: str | None = None,
        hmac_keys: Iterable[str] = (),
        max_hmac_keys: int = MAX_KEYS,
        connect_format: str = "json",
        include_envelope_data: bool = True,
        include_documents: bool = False,
        token_lifetime: int = 3600,
        rate_limit: int = 3000,
        burst_limit: int = 500,
        rate_limit_status: int = 429,
        envelope_polling: bool = False,
        envelope_polling_limit: int = 1,
        envelope_polling_window: int = 900,
        clock: Callable[[], float] = time.time,
        async_callbacks: bool = False,
        callback_timeout: float = 10.0,
        drop_callbacks: float = 0.0,
        drop_seed: int = 0,
        user_name: str = "Sim Sender",
        user_email: str = "sender@example.com",
        account_name: str = "dealwire DocuSign simulator",
        configuration_id: int = 10482913,
        xml_offset_hours: int = 0,
        events: Iterable[str] = ALL_EVENTS,
        consent: bool = True,
    ) -> None:
        pem = public_key_pem.decode("ascii") if isinstance(public_key_pem, bytes) else public_key_pem
        if connect_format not in FORMATS:
            raise ValueError(f"connect_format must be one of {FORMATS}")
        config = SimConfig(
            account_id=account_id,
            integration_key=integration_key,
            user_id=user_id,
            public_key_pem=pem,
            port=port,
            webhook_url=webhook_url,
            hmac_keys=tuple(hmac_keys),
            max_hmac_keys=max_hmac_keys,
            connect_format=connect_format,
            include_envelope_data=include_envelope_data,
            include_documents=include_documents,
            token_lifetime=token_lifetime,
            rate_limit=rate_limit,
            burst_limit=burst_limit,
            rate_limit_status=rate_limit_status,
            envelope_polling=envelope_polling,
            envelope_polling_limit=envelope_polling_limit,
            envelope_polling_window=envelope_polling_window,
            async_callbacks=async_callbacks,
            callback_timeout=callback_timeout,
            drop_callbacks=drop_callbacks,
            drop_seed=drop_seed,
            user_name=user_name,
            user_email=user_email,
            account_name=account_name,
            configuration_id=configuration_id,
            xml_offset_hours=xml_offset_hours,
            events=frozenset(events),
            consent=consent,
        )
        check_limits(config)
        self.public_key = load_public_key(pem)
        self.account = Account(config)
        self.tokens = TokenStore()
        self.faults = FaultPlan()
        # ``clock`` moves the limits' windows (tests); tokens and timestamps keep real time.
        self.budget = ApiBudget(rate_limit, burst_limit, clock)
        self.polling = EnvelopePolling(envelope_polling_limit, envelope_polling_window, clock)
        self.requests = RequestLog()
        handler = type("BoundSimHandler", (_Handler,), {"sim": self})
        self.server = ThreadingHTTPServer((HOST, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimConfig:
        return self.account.config

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Simulator:
        if self._thread is None:
            # A short poll interval makes stop() quick: shutdown() waits for the next poll.
            self._thread = threading.Thread(
                target=self.server.serve_forever, args=(0.05,), name="docusign-sim", daemon=True
            )
            self._thread.start()
            if self.config.async_callbacks:
                self.account.outbox.start_worker()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.account.outbox.stop()
        self.server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- accessors for tests -------------------------------------------------------------

    def document_bytes(self, envelope_id: str, document_id: str, *, certificate: bool = True) -> bytes:
        """The bytes ``GET .../documents/{document_id}`` answers, without counting a download."""
        return self.account.document(envelope_id, document_id, certificate=certificate)

    def download_count(self, envelope_id: str, document_id: str) -> int:
        with self.account.lock:
            return self.account.downloads[(envelope_id, document_id)]

    def callbacks(self) -> list[dict[str, Any]]:
        return self.account.outbox.records()

    def configure(self, **changes: Any) -> SimConfig:  # noqa: ANN401 - the control API's camelCase keys
        """Change run-time settings with the keys of ``POST /_sim/config``."""
        with self.account.lock:
            new = updated_config(self.account.config, changes)
            was_async = self.account.config.async_callbacks
            self.account.reconfigure(new, changes)
            self.budget.set_limits(new.rate_limit, new.burst_limit)
            self.polling.set_rule(new.envelope_polling_limit, new.envelope_polling_window)
            self.account.outbox.timeout = new.callback_timeout
        if new.async_callbacks and not was_async and self._thread is not None:
            self.account.outbox.start_worker()
        elif was_async and not new.async_callbacks:
            self.account.outbox.stop()
        return new

    # --- OAuth ---------------------------------------------------------------------------

    def audiences(self, host_header: str | None) -> set[str]:
        """The ``aud`` values accepted: this server's host:port, and the Host the client used."""
        found = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        if host_header:
            found.add(host_header.strip())
        return found

    def token(self, form: dict[str, str], host_header: str | None) -> Answer:
        try:
            if form.get("grant_type") != JWT_BEARER:
                raise OAuthError("unsupported_grant_type")
            assertion = form.get("assertion")
            if not assertion:
                raise OAuthError("invalid_request", "the assertion parameter is missing")
            config = self.config
            claims = verify_assertion(
                assertion,
                public_key=self.public_key,
                integration_key=config.integration_key,
                user_id=config.user_id,
                audiences=self.audiences(host_header),
            )
            if not config.consent or not requested_scopes(claims) <= config.consented_scopes:
                raise OAuthError("consent_required")
        except OAuthError as refusal:
            return Answer(400, refusal.body())
        token = self.tokens.issue(config.user_id, config.token_lifetime)
        return Answer(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": config.token_lifetime}
        )

    def consent_page(self, query: dict[str, str], accept: str | None) -> Answer:
        """``GET /oauth/auth``: the user clicks "Allow" at once; a refusal is an error page."""
        try:
            with self.account.lock:
                config = self.account.config
                location, scopes = consent_redirect(query, config.integration_key)
                before = config.consented_scopes if config.consent else frozenset()
                self.account.config = replace(config, consent=True, consented_scopes=before | scopes)
        except ConsentRefused as refusal:
            if accept and "application/json" in accept:
                return Answer(400, refusal.body())
            return Answer(400, refusal.page(), "text/html; charset=utf-8")
        except ConsentRedirected as refusal:  # once the redirect URI is trusted, errors go back to it
            return Answer(302, b"", headers={"Location": refusal.location})
        return Answer(302, b"", headers={"Location": location})

    def userinfo(self) -> Answer:
        config = self.config
        return Answer(
            200,
            {
                "sub": config.user_id,
                "name": config.user_name,
                "email": config.user_email,
                "accounts": [
                    {
                        "account_id": config.account_id,
                        "is_default": True,
                        "account_name": config.account_name,
                        "base_uri": self.url,
                    }
                ],
            },
        )


def _polled_envelopes(method: str, path: str, query: dict[str, str]) -> list[str]:
    """The envelopes a GET polls: the one it reads (itself or anything in it: its polling limit
    counts them all), or those a listStatusChanges names in ``envelope_ids``; a listing by date
    or by ``transaction_ids`` polls none."""
    match = _ACCOUNT_PATH.match(path)
    segments = [s for s in ((match["rest"] or "") if match else "").split("/") if s]
    if method != "GET" or not segments or segments[0] != "envelopes":
        return []
    if len(segments) == 1:
        return sorted(id_list(query, "envelope_ids"))
    return [segments[1]]


def _bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


class _Handler(BaseHTTPRequestHandler):
    sim: ClassVar[Simulator]
    protocol_version = "HTTP/1.1"  # keep-alive, as the httpx client of dealwire expects
    server_version = "DocuSignSimulator/1.0"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms for each.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing ------------------------------------------------------------------------

    _body: bytes | None = None

    def _read_body(self) -> bytes:
        """The request body, read once: every answer must consume it, or keep-alive breaks."""
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the body is left unread, so the connection cannot be reused
                raise SimError(413, "REQUEST_ENTITY_TOO_LARGE", "The request body is too large.")
            self._body = self.rfile.read(length) if length > 0 else b""
        return self._body

    def _json_body(self) -> object:
        raw = self._read_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SimError(
                400, "INVALID_REQUEST_BODY", f"The request body is missing or improperly formatted. {exc}"
            ) from exc

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    # Set by a ``drop_response`` fault: the request is served, then the connection closes unanswered.
    _drop = False

    def _handle(self, method: str) -> None:
        self._body = None
        self._drop = False
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            self._read_body()  # first, so that no answer leaves it unread on a keep-alive connection
            if path.startswith("/_sim/"):
                answer = self._control(method, path, query)
            else:
                answer = self._api(method, path, query)
        except SimError as refusal:
            answer = Answer(refusal.status, refusal.body())
        except Exception:  # a simulator bug must still answer, and say so
            log.exception("simulator error on %s %s", method, self.path)
            answer = Answer(500, {"errorCode": "UNSPECIFIED_ERROR", "message": "simulator bug, see its log"})
        if self.sim.requests.logs(path):  # as served, even when a drop_response fault loses the answer
            code = error_code(answer.status, answer.content_type, answer.body)
            self.sim.requests.add(method, path, query, answer.status, code)
        if self._drop:  # as if the answer were lost on the way: the client sees the connection close
            log.info("drop_response fault: %s %s served, answer dropped", method, self.path)
            self.close_connection = True
            return
        self._send(answer)

    # --- DocuSign API --------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str]) -> Answer:
        sim = self.sim
        fault = sim.faults.take(method, path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        elif fault is not None and fault.kind == "drop_response":
            self._drop = True
        if fault is not None and fault.kind not in SERVED_FAULTS:
            budget = sim.budget.exhausted() if fault.kind == "hourly_limit" else sim.budget.charge()[0]
            headers = budget.headers() if path.startswith(API_PREFIX) else {}
            retry_after = fault.answer_retry_after()
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            status = fault.answer_status(sim.config.rate_limit_status)
            return Answer(status, fault.answer_body(sim.budget.limit), headers=headers)
        oauth = self._oauth(method, path, query)
        if oauth is not None:
            return oauth
        if path.startswith("/sender/") and method == "GET":
            return self._sender_page(path.removeprefix("/sender/"))
        if path.startswith(API_PREFIX):
            return self._rest(method, path, query)
        return Answer(
            404,
            {
                "errorCode": "INVALID_REQUEST_RESOURCE",
                "message": "The URL provided does not resolve to a resource.",
            },
        )

    def _oauth(self, method: str, path: str, query: dict[str, str]) -> Answer | None:
        """The account server's calls: the JWT grant, the consent page, userinfo."""
        sim = self.sim
        if path == "/oauth/token" and method == "POST":
            form = dict(parse_qsl(self._read_body().decode("utf-8", "replace")))
            return sim.token(form, self.headers.get("Host"))
        if path == "/oauth/auth" and method == "GET":
            return sim.consent_page(query, self.headers.get("Accept"))
        if path == "/oauth/userinfo" and method == "GET":
            token = _bearer(self.headers.get("Authorization"))
            if token is None or sim.tokens.check(token) is None:
                return Answer(
                    401, {"error": "invalid_token", "error_description": "expired or unknown token"}
                )
            return sim.userinfo()
        return None

    def _rest(self, method: str, path: str, query: dict[str, str]) -> Answer:
        sim = self.sim
        token = _bearer(self.headers.get("Authorization"))
        if token is None or sim.tokens.check(token) is None:
            refusal = SimError(
                401,
                "AUTHORIZATION_INVALID_TOKEN",
                "The access token provided is expired, revoked or malformed.",
            )
            return Answer(401, refusal.body(), headers=sim.budget.peek().headers())
        config = sim.config
        budget, exceeded = sim.budget.charge()
        headers = budget.headers()  # DocuSign's answers carry no Retry-After: X-RateLimit-Reset says when
        if exceeded is not None:
            return Answer(config.rate_limit_status, limit_body(exceeded, budget.limit), headers=headers)
        polled = _polled_envelopes(method, path, query)
        if config.envelope_polling and polled and not sim.polling.allow(polled):
            return Answer(config.rate_limit_status, limit_body("polling", budget.limit), headers=headers)
        try:
            answer = self._rest_route(method, path, query)
        except SimError as refusal:
            answer = Answer(refusal.status, refusal.body())
        answer.headers |= headers
        return answer

    def _rest_route(self, method: str, path: str, query: dict[str, str]) -> Answer:
        account = self.sim.account
        match = _ACCOUNT_PATH.match(path)
        if match is None:
            raise SimError(
                404, "INVALID_REQUEST_RESOURCE", "The URL provided does not resolve to a resource."
            )
        if match["account"] != account.config.account_id:
            raise SimError(400, "ACCOUNT_LACKS_PERMISSIONS", "This Account lacks sufficient permissions.")
        segments = [s for s in (match["rest"] or "").split("/") if s]
        if segments and segments[0] == "connect":
            status, body = connect_api.route(account, method, segments[1:], query, self._json_body)
            return Answer(status, body)
        answer: Answer | None = None
        if segments and segments[0] == "templates" and method == "GET" and len(segments) <= 2:
            answer = Answer(
                200,
                account.template_json(segments[1]) if len(segments) == 2 else account.template_results(query),
            )
        elif segments and segments[0] == "envelopes":
            answer = self._envelope_route(method, segments[1:], query)
        if answer is None:
            raise SimError(
                404, "INVALID_REQUEST_RESOURCE", "The URL provided does not resolve to a resource."
            )
        return answer

    def _envelope_route(self, method: str, rest: list[str], query: dict[str, str]) -> Answer | None:
        """``envelopes[/{id}[/...]]``: ``rest`` is what follows ``envelopes``."""
        account = self.sim.account
        part = (method, *rest[1:]) if rest else (method,)
        routes: dict[tuple[str, ...], Callable[[], Answer]] = {
            ("GET",): lambda: Answer(200, account.list_changes(query)),
            ("POST",): lambda: Answer(201, account.create(self._json_body())),
            ("GET", "documents"): lambda: Answer(200, account.document_list(rest[0])),
            ("GET", "recipients"): lambda: Answer(
                200,
                account.recipients_json(
                    rest[0], include_tabs=query.get("include_tabs", "").lower() == "true"
                ),
            ),
            ("GET", "notification"): lambda: Answer(200, account.notification_json(rest[0])),
            ("POST", "views", "sender"): lambda: Answer(
                201, account.create_sender_view(rest[0], self._json_body(), self.sim.url)
            ),
        }
        if len(rest) == 1:
            routes[("GET",)] = lambda: Answer(200, account.envelope_json(rest[0], self._include(query)))
            routes[("PUT",)] = lambda: Answer(200, account.update(rest[0], self._json_body()))
            routes.pop(("POST",))
        if method == "GET" and len(rest) == 3 and rest[1] == "documents":
            return self._download(rest[0], rest[2], query)
        route = routes.get(part)
        return route() if route is not None else None

    def _sender_page(self, token: str) -> Answer:
        """The sender view a ``views/sender`` URL opens (once): a page naming the draft. The
        sender's "Send" is the control API's ``POST /_sim/envelopes/{id}/send``."""
        envelope = self.sim.account.open_sender_view(token)
        if envelope is None:
            page = "<!doctype html><title>DocuSign</title><p>This link has expired or was already used.</p>"
            return Answer(404, page.encode(), "text/html; charset=utf-8")
        page = (
            "<!doctype html><html><head><title>DocuSign - Send envelope (simulated)</title></head><body>"
            f"<h1>{html.escape(envelope.email_subject)}</h1>"
            f"<p>Draft envelope <code>{html.escape(envelope.envelope_id)}</code> from template "
            f"<code>{html.escape(envelope.template_id)}</code>, {len(envelope.recipients)} recipient(s).</p>"
            "<p>The sender sends it with <code>POST /_sim/envelopes/{id}/send</code>.</p></body></html>"
        )
        return Answer(200, page.encode(), "text/html; charset=utf-8")

    @staticmethod
    def _include(query: dict[str, str]) -> frozenset[str]:
        return frozenset(i.strip() for i in query.get("include", "").split(",") if i.strip())

    def _download(self, envelope_id: str, document_id: str, query: dict[str, str]) -> Answer:
        certificate = query.get("certificate", "true").lower() != "false"
        pdf = self.sim.account.document(envelope_id, document_id, certificate=certificate, count=True)
        name = {"1": "document", "certificate": "certificate", "combined": "combined"}[document_id]
        return Answer(
            200, pdf, "application/pdf", {"Content-Disposition": f'file; filename="{name}_{envelope_id}.pdf"'}
        )

    # --- control API ---------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, str]) -> Answer:  # noqa: PLR0911, PLR0912
        sim, account = self.sim, self.sim.account
        segments = path.split("/")[2:]  # "/_sim/a/b" → ["a", "b"]
        try:
            connect = connect_api.control(account, method, segments, query, self._json_body)
            if connect is not None:
                return Answer(*connect)
            envelopes = self._envelope_control(method, segments, query)
            if envelopes is not None:
                return envelopes
            match (method, segments):
                case ("GET", ["health"]):
                    return Answer(200, {"ok": True, "url": sim.url, "accountId": account.config.account_id})
                case ("GET", ["callbacks"]):
                    return Answer(200, {"callbacks": account.outbox.records()})
                case ("DELETE", ["callbacks"]):
                    account.outbox.clear()
                    return Answer(200, {"callbacks": []})
                case ("GET", ["faults"]):
                    return Answer(200, {"faults": sim.faults.pending()})
                case ("POST", ["faults"]):
                    sim.faults.add(parse_fault(self._json_body()))
                    return Answer(200, {"faults": sim.faults.pending()})
                case ("DELETE", ["faults"]):
                    sim.faults.clear()
                    return Answer(200, {"faults": []})
                case ("GET", ["requests"]):
                    return Answer(200, {"requests": sim.requests.entries()})
                case ("DELETE", ["requests"]):
                    sim.requests.clear()
                    return Answer(200, {"requests": []})
                case ("GET", ["config"]):
                    return Answer(200, account.public_config())
                case ("POST", ["config"]):
                    body = self._json_body()
                    if not isinstance(body, dict):
                        raise ValueError("config must be a JSON object")
                    sim.configure(**body)
                    return Answer(200, account.public_config())
                case ("GET", ["templates"]):
                    return Answer(200, {"templates": account.template_list()})
                case ("POST", ["templates"]):
                    return Answer(201, account.add_template(self._json_body()))
                case ("POST", ["tokens", "expire"]):
                    return Answer(200, {"expired": sim.tokens.expire_all()})
                case ("GET", ["downloads"]):
                    return Answer(200, {"downloads": account.download_counts()})
                case ("POST", ["reset"]):
                    account.reset()
                    sim.faults.clear()
                    sim.tokens.expire_all()
                    sim.budget.reset()
                    sim.polling.reset()
                    sim.requests.clear()
                    return Answer(200, {"reset": True})
        except (ValueError, TypeError) as exc:
            return Answer(400, {"error": str(exc)})
        return Answer(404, {"error": f"no control endpoint {method} {path}"})

    def _envelope_control(  # noqa: PLR0911 - one return per route
        self, method: str, segments: list[str], query: dict[str, str]
    ) -> Answer | None:
        """``/_sim/envelopes...``: envelopes as the simulator keeps them, and what recipients and the
        sender do to them; ``None`` for any other path."""
        sim, account = self.sim, self.sim.account
        match (method, segments):
            case ("GET", ["envelopes"]):
                return Answer(200, {"envelopes": account.all_envelopes()})
            case ("GET", ["envelopes", envelope_id]):
                return Answer(200, account.envelope_json(envelope_id))
            case ("POST", ["envelopes", "bulk"]):
                return Answer(201, {"envelopeIds": account.bulk_create(self._json_body())})
            case ("POST", ["envelopes", envelope_id, "recipients", recipient_id, action]):
                body = self._json_body()
                reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
                callbacks = account.act(envelope_id, recipient_id, action, reason)
                return Answer(200, {"envelope": account.envelope_json(envelope_id), "callbacks": callbacks})
            case ("POST", ["envelopes", envelope_id, "send"]):
                callbacks = account.send_draft(envelope_id)
                return Answer(200, {"envelope": account.envelope_json(envelope_id), "callbacks": callbacks})
            case ("POST", ["envelopes", envelope_id, "void"]):
                body = self._json_body()
                reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
                callbacks = account.void(envelope_id, reason or "Voided (simulated)")
                return Answer(200, {"envelope": account.envelope_json(envelope_id), "callbacks": callbacks})
            case ("GET", ["envelopes", envelope_id, "documents", document_id]):
                certificate = query.get("certificate", "true").lower() != "false"
                return Answer(
                    200,
                    sim.document_bytes(envelope_id, document_id, certificate=certificate),
                    "application/pdf",
                )
        return None
