"""DocuSign OAuth as the simulator plays it: the JWT grant, Bearer tokens, their expiry, the consent page."""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 3600  # DocuSign refuses an assertion whose exp is more than an hour after iat
CLOCK_SKEW_SECONDS = 60
IMPERSONATION = "impersonation"
# What the consent URL of a JWT integration asks for, and so what a consent grants.
CONSENTED_SCOPES = frozenset({"signature", IMPERSONATION})


class OAuthError(Exception):
    """Answered as DocuSign's OAuth service does: 400 ``{"error", "error_description"?}``."""

    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description is not None:
            body["error_description"] = self.description
        return body


def load_public_key(pem: str | bytes) -> RSAPublicKey:
    """The integration key's RSA public key, as a PEM public key or a certificate."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"BEGIN CERTIFICATE" in data
        else load_pem_public_key(data)
    )
    if not isinstance(key, RSAPublicKey):
        raise TypeError("the JWT grant needs an RSA public key (RS256)")
    return key


def verify_assertion(
    assertion: str,
    *,
    public_key: RSAPublicKey,
    integration_key: str,
    user_id: str,
    audiences: Collection[str],
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a valid JWT grant assertion; an ``invalid_grant`` refusal otherwise.

    Checked one by one rather than by pyjwt's options, so each refusal names its reason.
    """
    moment = time.time() if now is None else now
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise OAuthError("invalid_grant", "no_valid_keys_or_signatures") from exc
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"malformed_assertion: {exc}") from exc
    if claims.get("iss") != integration_key:
        raise OAuthError("invalid_grant", "issuer_not_found")
    if claims.get("sub") != user_id:
        raise OAuthError("invalid_grant", "user_not_found")
    audience = claims.get("aud")
    given = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a in audiences for a in given):
        raise OAuthError("invalid_grant", f"invalid_audience: expected one of {sorted(audiences)}")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise OAuthError("invalid_grant", "the assertion needs numeric iat and exp")
    if exp <= moment:
        raise OAuthError("invalid_grant", "expired_assertion")
    if iat > moment + CLOCK_SKEW_SECONDS:
        raise OAuthError("invalid_grant", "iat is in the future")
    if exp > iat + MAX_ASSERTION_SECONDS:
        raise OAuthError("invalid_grant", "exp is more than one hour after iat")
    return claims


def requested_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The scopes an assertion asks for; ``impersonation`` is implied by the JWT grant.

    DocuSign grants impersonation when the user consents, so an assertion asking only for
    ``signature`` (the SDK's default) is enough. An assertion naming no scope at all is
    refused with OAuth's ``invalid_scope`` (DocuSign does not document this case); scopes
    beyond the consent are ``consent_required``, as a missing consent is.
    """
    scopes = frozenset(str(claims.get("scope") or "").split())
    if not scopes:
        raise OAuthError("invalid_scope", "the assertion's scope claim names no scope")
    return scopes | {IMPERSONATION}


@dataclass(frozen=True, slots=True)
class Token:
    user_id: str
    expires_at: float


class TokenStore:
    """Opaque access tokens with a lifetime; all of them can be expired at once."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str, lifetime: int) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = Token(user_id, time.time() + lifetime)
        return token

    def check(self, token: str) -> Token | None:
        with self._lock:
            found = self._tokens.get(token)
            if found is not None and found.expires_at <= time.time():
                del self._tokens[token]
                return None
            return found

    def expire_all(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count


# --- the consent page ------------------------------------------------------------------


class ConsentRefused(Exception):
    """Shown on DocuSign's own page rather than redirected: the client or its redirect URI is not trusted."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def page(self) -> bytes:
        return (
            "<!DOCTYPE html>\n<html><head><title>Error</title></head><body>"
            f"<h1>{html.escape(self.error)}</h1><p>{html.escape(self.description)}</p></body></html>\n"
        ).encode()


class ConsentRedirected(Exception):
    """A refusal sent back to the redirect URI, as OAuth 2.0 does once that URI is trusted."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _with_query(uri: str, values: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(filter(None, [parts.query, urlencode(values)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def consent_redirect(query: Mapping[str, str], integration_key: str) -> tuple[str, frozenset[str]]:
    """``GET /oauth/auth`` as if the user clicked "Allow": where to redirect, and the scopes granted.

    The client and the redirect URI are checked first; refusing them is a page of the consent
    service (``ConsentRefused``). DocuSign also requires the URI to be one registered for the
    integration key; the simulator registers none and takes any absolute http(s) URI. Later
    refusals go back to the redirect URI with ``error`` and ``state`` (``ConsentRedirected``).
    """
    if query.get("client_id") != integration_key:
        raise ConsentRefused("invalid_client", "The client id provided is not registered with Docusign.")
    redirect_uri = query.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ConsentRefused(
            "invalid_request", "The redirect URI is not an absolute http(s) URI registered for this client."
        )
    state = {"state": query["state"]} if "state" in query else {}
    scopes = frozenset(query.get("scope", "").split())
    if query.get("response_type") != "code":
        raise ConsentRedirected(_with_query(redirect_uri, {"error": "unsupported_response_type"} | state))
    if "signature" not in scopes:
        raise ConsentRedirected(_with_query(redirect_uri, {"error": "invalid_scope"} | state))
    code = secrets.token_urlsafe(48)
    return _with_query(redirect_uri, {"code": code} | state), scopes
