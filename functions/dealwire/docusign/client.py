"""DocuSign eSignature REST v2.1 over httpx, authenticated with the OAuth JWT grant.

No SDK: the calls dealwire needs, typed at the edge, with timeouts on every call,
retries with exponential backoff and full jitter on bursts (429), 5xx and connection
errors, ``Retry-After`` honoured, DocuSign's hourly limit told from a burst (as 400 or
429) and raised with its reset time, every wait bounded by the invocation's deadline
(``with client.deadline(...)``), and the account's API budget recorded from every answer.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.docusign.errors import (
    ENVELOPE_POLLING_LIMIT_EXCEEDED,
    ENVELOPE_UPDATE_LIMIT_EXCEEDED,
    HOURLY_LIMIT_EXCEEDED,
    ConsentRequired,
    DocuSignError,
    DocuSignUnavailable,
    RateLimitExceeded,
)
from dealwire.domain.polling import ENVELOPE_IDS_PER_CALL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "signature impersonation"
# DocuSign allows an assertion to live an hour; a little less leaves room for clock skew.
ASSERTION_SECONDS = 3300
# Refresh a token this long before it expires, so no call goes out with a dying one.
TOKEN_MARGIN_SECONDS = 300
# Retried like a burst; a 429 is retried only when it is a burst (see _limit_of).
SERVER_ERRORS = frozenset({500, 502, 503, 504})
# Transport errors after which DocuSign cannot have seen the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Per-envelope limits are hourly: retrying within the invocation only spends the budget.
UNRETRYABLE_LIMITS = frozenset({ENVELOPE_POLLING_LIMIT_EXCEEDED, ENVELOPE_UPDATE_LIMIT_EXCEEDED})
HOUR = 3600
# Arrive just after the hourly reset, not just before it.
RESET_SLACK_SECONDS = 1.0
# An X-RateLimit-Reset below this (2001-09-09) is not a Unix time but seconds from now.
EPOCH_FLOOR = 1_000_000_000
# The part of a URL that says a call is to the eSignature REST API (what the budget counts).
_ACCOUNT_PATH = "/v2.1/accounts/"


@dataclass(frozen=True, slots=True)
class DocuSignApp:
    """One integration acting as one user of one account.

    ``auth_host`` is DocuSign's OAuth host (``account-d.docusign.com`` for demo,
    ``account.docusign.com`` for production) or a full URL (the local simulator).
    ``base_uri`` is the account's REST root (``https://demo.docusign.net/restapi``); when
    None it is found in ``/oauth/userinfo`` once per token.
    """

    integration_key: str
    user_id: str
    private_key_pem: str = field(repr=False)
    auth_host: str
    account_id: str
    base_uri: str | None = None
    redirect_uri: str = "https://www.docusign.com"

    @property
    def auth_url(self) -> str:
        host = self.auth_host.rstrip("/")
        return host if "://" in host else f"https://{host}"

    @property
    def audience(self) -> str:
        """The JWT ``aud``: the OAuth host without scheme."""
        return urlsplit(self.auth_url).netloc

    @property
    def consent_url(self) -> str:
        return consent_url(self.auth_url, self.integration_key, self.redirect_uri)


def consent_url(auth_url: str, integration_key: str, redirect_uri: str, state: str | None = None) -> str:
    """DocuSign's individual consent page for the JWT grant (``signature impersonation``);
    ``state`` comes back on the redirect, so the app can tell whose consent it was."""
    query = {
        "response_type": "code",
        "scope": SCOPE,
        "client_id": integration_key,
        "redirect_uri": redirect_uri,
        **({"state": state} if state else {}),
    }
    return f"{auth_url.rstrip('/')}/oauth/auth?{urlencode(query, quote_via=quote)}"


class UserAccount(BaseModel):
    """One account of ``/oauth/userinfo``: where its REST API lives."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    account_name: str = ""
    is_default: bool = False
    base_uri: str


class UserInfo(BaseModel):
    """``/oauth/userinfo``: who the token is for and the accounts they belong to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str
    name: str = ""
    email: str = ""
    accounts: tuple[UserAccount, ...] = ()

    def account(self, account_id: str | None) -> UserAccount | None:
        """``account_id``'s entry, or the user's default account when none is named."""
        if account_id:
            return next((a for a in self.accounts if a.account_id.lower() == account_id.lower()), None)
        return next((a for a in self.accounts if a.is_default), self.accounts[0] if self.accounts else None)


class TemplateRole(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    role_name: str
    name: str
    email: str
    routing_order: int | None = None
    client_user_id: str | None = None


class EnvelopeCreated(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow")

    envelope_id: str
    status: str
    status_date_time: str | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """One page of listStatusChanges: its envelopes, the size of the whole set, whether more follow."""

    envelopes: list[dict[str, Any]]
    total: int
    more: bool


@dataclass(slots=True)
class RateLimitState:
    """The account's API budget as DocuSign last reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None
    burst_limit: int | None = None
    burst_remaining: int | None = None


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float
    base_url: str


# Warm Lambda invocations reuse a token: keyed by who it was granted to.
_TOKENS: dict[tuple[str, str, str, str], _Token] = {}


@dataclass(frozen=True, slots=True)
class DocumentStream:
    content_type: str
    content_length: int | None
    response: httpx.Response = field(repr=False)

    def iter_bytes(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        yield from self.response.iter_bytes(chunk_size)


class DocuSignClient:
    def __init__(
        self,
        app: DocuSignApp,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        max_rate_limit_wait: float = 60.0,
        request_reserve: float = 1.0,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        """``max_rate_limit_wait``: the longest wait DocuSign may ask for (``Retry-After``, the
        hourly reset) before the call gives up instead; ``request_reserve``: the time a retried
        request needs, so no wait is taken that would leave less before the deadline."""
        self.app = app
        self._http = http or httpx.Client(
            timeout=timeout or httpx.Timeout(30.0, connect=3.0), trust_env=False, follow_redirects=False
        )
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_rate_limit_wait = max_rate_limit_wait
        self._request_reserve = request_reserve
        self._remaining: Callable[[], float] | None = None
        self.rate_limit = RateLimitState()
        # Every HTTP request; ``api_requests``: those the account's hourly budget counts (REST,
        # not the OAuth server's token and userinfo).
        self.requests = 0
        self.api_requests = 0

    # -- authentication -------------------------------------------------------------

    @property
    def _token_key(self) -> tuple[str, str, str, str]:
        return (self.app.auth_url, self.app.integration_key, self.app.user_id, self.app.account_id)

    def _token(self) -> _Token:
        token = _TOKENS.get(self._token_key)
        if token is None or token.expires_at - TOKEN_MARGIN_SECONDS <= self._clock():
            token = self._grant()
            _TOKENS[self._token_key] = token
        return token

    def _forget_token(self) -> None:
        _TOKENS.pop(self._token_key, None)

    def _grant(self) -> _Token:
        now = int(self._clock())
        assertion = jwt.encode(
            {
                "iss": self.app.integration_key,
                "sub": self.app.user_id,
                "aud": self.app.audience,
                "iat": now,
                "exp": now + ASSERTION_SECONDS,
                "scope": SCOPE,
            },
            self.app.private_key_pem,
            algorithm="RS256",
        )
        answer = self._send(
            "POST",
            f"{self.app.auth_url}/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": assertion},
        )
        if answer.status_code != 200:
            error = _json(answer)
            if error.get("error") == "consent_required":
                raise ConsentRequired(self.app.consent_url)
            raise DocuSignError(
                answer.status_code,
                str(error.get("error", "oauth_error")),
                str(error.get("error_description", answer.text[:200])),
            )
        granted = answer.json()
        value = str(granted["access_token"])
        expires_at = now + int(granted.get("expires_in", 3600))
        return _Token(value, expires_at, (self.app.base_uri or "").rstrip("/"))

    def _base_url(self, token: _Token) -> str:
        """The account's REST root: given, or found once in ``/oauth/userinfo`` and kept with the token."""
        if not token.base_url:
            account = self._userinfo(token.value).account(self.app.account_id)
            if account is None or not self.app.account_id:
                raise DocuSignError(
                    403,
                    "ACCOUNT_NOT_FOUND",
                    f"user {self.app.user_id} has no access to account "
                    f"{self.app.account_id or '(none named)'}",
                )
            token.base_url = f"{account.base_uri.rstrip('/')}/restapi"
        return token.base_url

    def _userinfo(self, token: str) -> UserInfo:
        answer = self._send(
            "GET", f"{self.app.auth_url}/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        if answer.status_code != 200:
            raise DocuSignError(answer.status_code, "userinfo_failed", answer.text[:200])
        try:
            return UserInfo.model_validate(answer.json())
        except (ValueError, ValidationError) as exc:
            raise DocuSignError(
                502, "userinfo_unreadable", "DocuSign's /oauth/userinfo was not readable"
            ) from exc

    def userinfo(self) -> UserInfo:
        """Who the grant acts as and their accounts: proves the consent works (one token, one call)."""
        return self._userinfo(self._token().value)

    # -- the invocation's deadline -------------------------------------------------

    @contextmanager
    def deadline(self, remaining: Callable[[], float] | None) -> Iterator[DocuSignClient]:
        """Bound the calls made inside to ``remaining()`` seconds, e.g. a Lambda context's
        ``get_remaining_time_in_millis() / 1000`` less what the caller keeps for itself.

        The client outlives an invocation (warm starts reuse it), so the bound is scoped:
        it ends with the block, and the previous one (if any) applies again.
        """
        previous = self._remaining
        self._remaining = remaining
        try:
            yield self
        finally:
            self._remaining = previous

    def _time_left(self) -> float | None:
        return None if self._remaining is None else self._remaining()

    def _fits(self, wait: float) -> bool:
        """A wait is taken only if it leaves time for the request after it."""
        left = self._time_left()
        return left is None or left - wait >= self._request_reserve

    def _request_timeout(self) -> httpx.Timeout:
        """The client's timeouts, none longer than the time left."""
        timeout = self._http.timeout
        left = self._time_left()
        if left is None:
            return timeout
        if left <= 0:
            raise DocuSignUnavailable(0, "DEADLINE_EXCEEDED", "no time is left in this invocation")
        return httpx.Timeout(
            connect=_shortest(timeout.connect, left),
            read=_shortest(timeout.read, left),
            write=_shortest(timeout.write, left),
            pool=_shortest(timeout.pool, left),
        )

    # -- transport ------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        stream: bool = False,
        once: bool = False,
        **kwargs: Any,  # noqa: ANN401 - httpx's request arguments
    ) -> httpx.Response:
        """One HTTP exchange. Bursts, 5xx and connection errors are retried (``Retry-After``,
        else backoff); the hourly limit is waited out once if its reset is near; no wait
        goes past the deadline. Gives back a 2xx (open if ``stream``) or an error retrying
        will not change (read and closed); raises RateLimitExceeded or DocuSignUnavailable.

        ``once``: the request is not idempotent (an envelope's creation), so it is repeated
        only when DocuSign cannot have acted on it: a refused connection, a burst or hourly
        limit. A lost answer or a 5xx raises ``DocuSignUnavailable`` with ``maybe_done``:
        the caller must look for what it asked for before asking again.
        """
        failures = 0
        waited_for_reset = False
        while True:
            request = self._http.build_request(method, url, timeout=self._request_timeout(), **kwargs)
            try:
                self.requests += 1
                if _ACCOUNT_PATH in url:
                    self.api_requests += 1
                answer = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                failures += 1
                failure = DocuSignUnavailable(0, type(exc).__name__, str(exc))
                if once and not isinstance(exc, _NOT_SENT):
                    failure.maybe_done = True
                    raise failure from exc
                self._retry(failures, self._backoff(failures), failure)
                continue
            self._record_budget(answer)
            if answer.status_code < 300:
                return answer
            if stream:
                answer.read()
                answer.close()
            error = _json(answer)
            code = str(error.get("errorCode", answer.status_code))
            message = str(error.get("message", answer.text[:200] or "no message"))
            limit = _limit_of(answer, code)
            if limit == "hourly":
                reset = self._reset(answer.headers)
                wait = max(0.0, reset - self._clock()) + RESET_SLACK_SECONDS
                if waited_for_reset or wait > self._max_rate_limit_wait or not self._fits(wait):
                    raise RateLimitExceeded(message, datetime.fromtimestamp(reset, UTC), answer.status_code)
                self._sleep(wait)
                waited_for_reset = True
                continue
            if limit == "burst" or answer.status_code in SERVER_ERRORS:
                failures += 1
                failure = DocuSignUnavailable(answer.status_code, code, message)
                if once and limit != "burst":
                    failure.maybe_done = True
                    raise failure
                told = _retry_after(answer.headers, self._clock())
                wait = self._backoff(failures) if told is None else told
                self._retry(failures, wait, failure)
                continue
            return answer

    def _retry(self, failures: int, wait: float, failure: DocuSignUnavailable) -> None:
        """Sleep before the next attempt, or raise ``failure`` now if none should follow."""
        if failures >= self._max_attempts or wait > self._max_rate_limit_wait or not self._fits(wait):
            raise failure
        self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to an exponentially growing cap."""
        cap: float = min(self._max_delay, self._base_delay * 2.0 ** (attempt - 1))
        return self._jitter() * cap

    def _reset(self, headers: httpx.Headers) -> float:
        """When the hourly budget comes back (Unix time): ``X-RateLimit-Reset``, else
        ``Retry-After``, else the top of the next hour, when DocuSign's window starts again."""
        now = self._clock()
        reset = _int(headers.get("X-RateLimit-Reset"))
        if reset is not None:
            # DocuSign documents a Unix time; one blog calls it "the remaining window": a small
            # number can only be seconds from now.
            return float(reset) if reset > EPOCH_FLOOR else now + reset
        told = _retry_after(headers, now)
        if told is not None:
            return now + told
        return float((int(now) // HOUR + 1) * HOUR)

    def _record_budget(self, answer: httpx.Response) -> None:
        headers = answer.headers
        if "X-RateLimit-Remaining" in headers:
            self.rate_limit.remaining = _int(headers.get("X-RateLimit-Remaining"))
            self.rate_limit.limit = _int(headers.get("X-RateLimit-Limit"))
            reset = self._reset(headers) if "X-RateLimit-Reset" in headers else None
            self.rate_limit.reset_at = datetime.fromtimestamp(reset, UTC) if reset else None
        if "X-BurstLimit-Remaining" in headers:
            self.rate_limit.burst_remaining = _int(headers.get("X-BurstLimit-Remaining"))
            self.rate_limit.burst_limit = _int(headers.get("X-BurstLimit-Limit"))

    def request(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        """An authenticated call to ``path`` under the account's REST root, re-authenticated
        once on 401; a refusal raises ``DocuSignError`` (or one of its kinds). ``once``: as
        ``_send`` takes it, for a call that must not be repeated blindly."""
        reauthenticated = False
        while True:
            token = self._token()
            url = f"{self._base_url(token)}/v2.1/accounts/{self.app.account_id}/{path}"
            headers = {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}
            answer = self._send(method, url, headers=headers, once=once, **kwargs)
            if answer.status_code == 401 and not reauthenticated:
                self._forget_token()
                reauthenticated = True
                continue
            if answer.status_code < 400:
                return answer
            raise _refusal(answer)

    # -- calls ----------------------------------------------------------------------

    def create_envelope_from_template(
        self,
        *,
        template_id: str,
        roles: Sequence[TemplateRole],
        email_subject: str | None = None,
        status: Literal["sent", "created"] = "sent",
        text_custom_fields: Mapping[str, str] | None = None,
    ) -> EnvelopeCreated:
        body: dict[str, Any] = {
            "templateId": template_id,
            "status": status,
            "templateRoles": [
                {
                    key: str(value) if key == "routingOrder" else value
                    for key, value in role.model_dump(by_alias=True, exclude_none=True).items()
                }
                for role in roles
            ],
        }
        if email_subject:
            body["emailSubject"] = email_subject
        if text_custom_fields:
            body["customFields"] = {
                "textCustomFields": [
                    {"name": name, "value": value, "show": "false"}
                    for name, value in text_custom_fields.items()
                ]
            }
        return EnvelopeCreated.model_validate(self.request("POST", "envelopes", json=body).json())

    def get_envelope(self, envelope_id: str) -> dict[str, Any]:
        """The envelope with its recipients, custom fields and documents, as DocuSign writes it."""
        answer = self.request(
            "GET", f"envelopes/{envelope_id}", params={"include": "recipients,custom_fields,documents"}
        )
        envelope: dict[str, Any] = answer.json()
        return envelope

    def list_status_changes(
        self, *, from_date: datetime, envelope_ids: Sequence[str] = (), statuses: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Envelopes changed since ``from_date``: at most 100 ids per call, every page followed."""
        batches: list[Sequence[str]] = [
            envelope_ids[i : i + ENVELOPE_IDS_PER_CALL]
            for i in range(0, len(envelope_ids), ENVELOPE_IDS_PER_CALL)
        ] or [()]
        found: list[dict[str, Any]] = []
        for batch in batches:
            start = 0
            while True:
                page = self.status_changes_page(
                    from_date=from_date, envelope_ids=batch, statuses=statuses, start=start
                )
                found.extend(page.envelopes)
                start += len(page.envelopes)
                if not page.envelopes or start >= page.total or not page.more:
                    break
        return found

    def status_changes_page(
        self,
        *,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        envelope_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        start: int = 0,
        count: int | None = None,
        include: str = "recipients",
    ) -> ChangesPage:
        """One page of listStatusChanges: envelopes changed in ``[from_date, to_date]`` (or those of
        ``envelope_ids``, at most 100), from ``start``; one call."""
        if len(envelope_ids) > ENVELOPE_IDS_PER_CALL:
            raise ValueError(f"listStatusChanges takes at most {ENVELOPE_IDS_PER_CALL} envelope ids")
        params: dict[str, Any] = {"include": include, "start_position": start}
        if from_date is not None:
            params["from_date"] = _rest_time(from_date)
        if to_date is not None:
            params["to_date"] = _rest_time(to_date)
        if envelope_ids:
            params["envelope_ids"] = ",".join(envelope_ids)
        if statuses:
            params["status"] = ",".join(statuses)
        if count is not None:
            params["count"] = count
        page = self.request("GET", "envelopes", params=params).json()
        envelopes = [e for e in page.get("envelopes") or [] if isinstance(e, dict)]
        more = bool(page.get("nextUri"))
        reported = _int(str(page.get("totalSetSize", "")))
        # DocuSign documents totalSetSize; without it, nextUri says whether at least one more follows.
        total = reported if reported is not None else start + len(envelopes) + (1 if more else 0)
        return ChangesPage(envelopes=envelopes, total=max(total, start + len(envelopes)), more=more)

    def list_documents(self, envelope_id: str) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = (
            self.request("GET", f"envelopes/{envelope_id}/documents").json().get("envelopeDocuments", [])
        )
        return documents

    @contextmanager
    def open_document(
        self, envelope_id: str, document_id: str, *, certificate: bool | None = None
    ) -> Iterator[DocumentStream]:
        """Stream one document (``combined``, ``certificate`` or a document id).

        The answer is read as it arrives, so a 50 MB PDF is never held whole; retries
        happen only before the first byte is handed on.
        """
        params = {} if certificate is None else {"certificate": str(certificate).lower()}
        reauthenticated = False
        while True:
            token = self._token()
            account = f"{self._base_url(token)}/v2.1/accounts/{self.app.account_id}"
            url = f"{account}/envelopes/{envelope_id}/documents/{document_id}"
            response = self._send(
                "GET", url, stream=True, params=params, headers={"Authorization": f"Bearer {token.value}"}
            )
            if response.status_code == 200:
                try:
                    yield DocumentStream(
                        content_type=response.headers.get("Content-Type", ""),
                        content_length=_int(response.headers.get("Content-Length")),
                        response=response,
                    )
                finally:
                    response.close()
                return
            response.close()
            if response.status_code == 401 and not reauthenticated:
                self._forget_token()
                reauthenticated = True
                continue
            raise _refusal(response)

    def void_envelope(self, envelope_id: str, reason: str) -> None:
        self.request("PUT", f"envelopes/{envelope_id}", json={"status": "voided", "voidedReason": reason})

    def close(self) -> None:
        self._http.close()


def _rest_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _refusal(answer: httpx.Response) -> DocuSignError:
    error = _json(answer)
    code = str(error.get("errorCode", answer.status_code))
    return DocuSignError(answer.status_code, code, str(error.get("message", answer.text[:200])))


def _limit_of(answer: httpx.Response, code: str) -> Literal["hourly", "burst"] | None:
    """Which of the account's limits refused the call: DocuSign names it in ``errorCode``
    (sent with 400 or, since DocuSign's move, 429); a bare 429 is told by its headers."""
    code = code.upper()
    if code == HOURLY_LIMIT_EXCEEDED:
        return "hourly"
    if code.startswith("BURST_") and code.endswith("_LIMIT_EXCEEDED"):
        return "burst"
    if answer.status_code != 429 or code in UNRETRYABLE_LIMITS:
        return None
    return "hourly" if answer.headers.get("X-RateLimit-Remaining") == "0" else "burst"


def _retry_after(headers: httpx.Headers, now: float) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), if given."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now) if moment.tzinfo else None


def _shortest(configured: float | None, left: float) -> float:
    return left if configured is None else min(configured, left)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
