"""DocuSign eSignature REST v2.1 over httpx, authenticated with the OAuth JWT grant.

No SDK: the calls dealwire needs, typed at the edge, with timeouts on every call,
retries with exponential backoff and full jitter on 429, 5xx and connection errors,
``Retry-After`` and DocuSign's hourly limit honoured, and the account's remaining API
budget recorded from every answer.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from dealwire.docusign.errors import (
    HOURLY_LIMIT_EXCEEDED,
    ConsentRequired,
    DocuSignError,
    DocuSignUnavailable,
    RateLimitExceeded,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "signature impersonation"
# DocuSign allows an assertion to live an hour; a little less leaves room for clock skew.
ASSERTION_SECONDS = 3300
# Refresh a token this long before it expires, so no call goes out with a dying one.
TOKEN_MARGIN_SECONDS = 300
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ENVELOPE_IDS_PER_CALL = 100


@dataclass(frozen=True, slots=True)
class DocuSignApp:
    """One integration acting as one user of one account.

    ``auth_host`` is DocuSign's OAuth host (``account-d.docusign.com`` for demo,
    ``account.docusign.com`` for production) or a full URL (the local simulator).
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
        return (
            f"{self.auth_url}/oauth/auth?response_type=code&scope={quote(SCOPE)}"
            f"&client_id={quote(self.integration_key)}&redirect_uri={quote(self.redirect_uri, safe='')}"
        )


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


@dataclass(slots=True)
class RateLimitState:
    """The account's API budget as DocuSign last reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


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
        timeout: httpx.Timeout | None = None,
    ) -> None:
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
        self.rate_limit = RateLimitState()
        self.requests = 0

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
        return _Token(value, expires_at, self.app.base_uri or self._base_url(value))

    def _base_url(self, token: str) -> str:
        answer = self._send(
            "GET", f"{self.app.auth_url}/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        if answer.status_code != 200:
            raise DocuSignError(answer.status_code, "userinfo_failed", answer.text[:200])
        for account in answer.json().get("accounts", []):
            if str(account.get("account_id", "")).lower() == self.app.account_id.lower():
                return f"{str(account['base_uri']).rstrip('/')}/restapi"
        raise DocuSignError(
            403,
            "ACCOUNT_NOT_FOUND",
            f"user {self.app.user_id} has no access to account {self.app.account_id}",
        )

    # -- transport ------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        """One HTTP exchange with retries on 429, 5xx and connection errors."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                self.requests += 1
                answer = self._http.request(method, url, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == self._max_attempts:
                    raise DocuSignUnavailable(0, type(exc).__name__, str(exc)) from exc
                self._sleep(self._backoff(attempt))
                continue
            self._record_budget(answer)
            if answer.status_code in RETRYABLE_STATUS:
                if attempt == self._max_attempts:
                    error = _json(answer)
                    raise DocuSignUnavailable(
                        answer.status_code,
                        str(error.get("errorCode", answer.status_code)),
                        str(error.get("message", "retries exhausted")),
                    )
                self._sleep(self._retry_after(answer) or self._backoff(attempt))
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to an exponentially growing cap."""
        cap: float = min(self._max_delay, self._base_delay * 2.0 ** (attempt - 1))
        return self._jitter() * cap

    @staticmethod
    def _retry_after(answer: httpx.Response) -> float | None:
        value = answer.headers.get("Retry-After", "")
        return float(value) if value.replace(".", "", 1).isdigit() else None

    def _record_budget(self, answer: httpx.Response) -> None:
        headers = answer.headers
        if "X-RateLimit-Remaining" in headers:
            self.rate_limit.remaining = _int(headers.get("X-RateLimit-Remaining"))
            self.rate_limit.limit = _int(headers.get("X-RateLimit-Limit"))
            reset = _int(headers.get("X-RateLimit-Reset"))
            self.rate_limit.reset_at = datetime.fromtimestamp(reset, UTC) if reset else None

    def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        """An authenticated API call: re-authenticates once on 401, waits out a near hourly reset."""
        reauthenticated = waited = False
        while True:
            token = self._token()
            url = f"{token.base_url}/v2.1/accounts/{self.app.account_id}/{path}"
            headers = {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}
            answer = self._send(method, url, headers=headers, **kwargs)
            if answer.status_code == 401 and not reauthenticated:
                self._forget_token()
                reauthenticated = True
                continue
            if answer.status_code < 400:
                return answer
            error = _json(answer)
            code = str(error.get("errorCode", answer.status_code))
            message = str(error.get("message", answer.text[:200]))
            if code == HOURLY_LIMIT_EXCEEDED:
                wait = self._until_reset()
                if wait is not None and wait <= self._max_rate_limit_wait and not waited:
                    self._sleep(wait)
                    waited = True
                    continue
                raise RateLimitExceeded(message, self.rate_limit.reset_at)
            raise DocuSignError(answer.status_code, code, message)

    def _until_reset(self) -> float | None:
        if self.rate_limit.reset_at is None:
            return None
        return max(0.0, self.rate_limit.reset_at.timestamp() - self._clock())

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
        return EnvelopeCreated.model_validate(self._api("POST", "envelopes", json=body).json())

    def get_envelope(self, envelope_id: str) -> dict[str, Any]:
        """The envelope with its recipients, custom fields and documents, as DocuSign writes it."""
        answer = self._api(
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
            params: dict[str, Any] = {
                "from_date": from_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "include": "recipients",
            }
            if batch:
                params["envelope_ids"] = ",".join(batch)
            if statuses:
                params["status"] = ",".join(statuses)
            start = 0
            while True:
                page = self._api("GET", "envelopes", params={**params, "start_position": start}).json()
                envelopes = page.get("envelopes") or []
                found.extend(envelopes)
                total = int(page.get("totalSetSize", len(envelopes)) or 0)
                start += len(envelopes)
                if not envelopes or start >= total or not page.get("nextUri"):
                    break
        return found

    def list_documents(self, envelope_id: str) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = (
            self._api("GET", f"envelopes/{envelope_id}/documents").json().get("envelopeDocuments", [])
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
        for attempt in range(1, self._max_attempts + 1):
            token = self._token()
            account = f"{token.base_url}/v2.1/accounts/{self.app.account_id}"
            url = f"{account}/envelopes/{envelope_id}/documents/{document_id}"
            request = self._http.build_request(
                "GET", url, params=params, headers={"Authorization": f"Bearer {token.value}"}
            )
            try:
                self.requests += 1
                response = self._http.send(request, stream=True)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == self._max_attempts:
                    raise DocuSignUnavailable(0, type(exc).__name__, str(exc)) from exc
                self._sleep(self._backoff(attempt))
                continue
            self._record_budget(response)
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
            response.read()
            response.close()
            if response.status_code == 401 and not reauthenticated:
                self._forget_token()
                reauthenticated = True
                continue
            if response.status_code in RETRYABLE_STATUS and attempt < self._max_attempts:
                self._sleep(self._retry_after(response) or self._backoff(attempt))
                continue
            error = _json(response)
            code = str(error.get("errorCode", response.status_code))
            message = str(error.get("message", response.text[:200]))
            if response.status_code in RETRYABLE_STATUS:
                raise DocuSignUnavailable(response.status_code, code, message)
            if code == HOURLY_LIMIT_EXCEEDED:
                raise RateLimitExceeded(message, self.rate_limit.reset_at)
            raise DocuSignError(response.status_code, code, message)
        raise DocuSignUnavailable(0, "attempts", "retries exhausted")

    def void_envelope(self, envelope_id: str, reason: str) -> None:
        self._api("PUT", f"envelopes/{envelope_id}", json={"status": "voided", "voidedReason": reason})

    def close(self) -> None:
        self._http.close()


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
