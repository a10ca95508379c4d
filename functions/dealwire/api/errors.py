"""The API's refusals: each carries its HTTP status and a stable code; one handler answers them all.

``with_docusign`` turns DocuSign's refusals into these, for every route that calls DocuSign.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
# DocuSign's ways of saying the envelope, document or template asked for is not there.
_NOT_THERE: Final = frozenset(
    {
        "ENVELOPE_DOES_NOT_EXIST",
        "DOCUMENT_DOES_NOT_EXIST",
        "INVALID_DOCUMENT_ID",
        "INVALID_DOCUMENTID",
        "TEMPLATE_ID_INVALID",
    }
)


class ApiRefusal(Exception):
    """A request the API answers with a 4xx; ``message`` is what the caller is told."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.retry_after = retry_after


class InvalidRequest(ApiRefusal):
    status = 400
    code = "invalid_request"


class UnsupportedBody(ApiRefusal):
    status = 415
    code = "unsupported_media_type"


class Forbidden(ApiRefusal):
    status = 403
    code = "forbidden"


class NotFound(ApiRefusal):
    """No such thing in the caller's tenant, or nothing the caller may see: told apart by no one."""

    status = 404
    code = "not_found"


class Conflict(ApiRefusal):
    """The thing exists but its state does not allow the request (``code`` says which state)."""

    status = 409
    code = "conflict"


class TooManyRequests(ApiRefusal):
    status = 429
    code = "rate_limited"


class Unavailable(ApiRefusal):
    """A service behind the API (DocuSign) failed; retrying later may work."""

    status = 502
    code = "upstream_unavailable"


def with_docusign(call: Callable[[], T], *, missing: str = "DocuSign has no such document or envelope") -> T:
    """Run a DocuSign call; its refusals become the API's (not found, conflict, rate limit, unavailable).

    ``missing`` is the 404's message when DocuSign has no such thing."""
    from dealwire.docusign.errors import (  # noqa: PLC0415 - the DocuSign client is imported only when called
        ConsentRequired,
        DocuSignError,
        DocuSignUnavailable,
        RateLimitExceeded,
    )

    try:
        return call()
    except RateLimitExceeded as exc:
        wait = int(max(1.0, exc.reset_at.timestamp() - datetime.now(UTC).timestamp())) if exc.reset_at else 60
        raise TooManyRequests(
            "DocuSign's hourly API limit for the account is spent", retry_after=wait
        ) from exc
    except ConsentRequired as exc:
        raise Conflict(exc.message, code="consent_required") from exc
    except DocuSignUnavailable as exc:
        raise Unavailable(f"DocuSign did not answer: {exc.message}") from exc
    except DocuSignError as exc:
        if exc.status == 404 or exc.error_code in _NOT_THERE:
            raise NotFound(missing) from exc
        if exc.error_code == "ENVELOPE_CANNOT_VOID_INVALID_STATE":
            raise Conflict(exc.message, code="cannot_void") from exc
        raise Unavailable(f"DocuSign refused: {exc.error_code}") from exc
