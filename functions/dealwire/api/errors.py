"""The API's refusals: each carries its HTTP status and a stable code; one handler answers them all."""

from __future__ import annotations


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
