"""DocuSign's refusals as exceptions, from its error bodies (``errorCode``, ``message``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

COMBINED_PDF_DOWNLOAD_NOT_ALLOWED = "COMBINED_PDF_DOWNLOAD_NOT_ALLOWED"
# DocuSign's ways of saying the account has no such template (400 TEMPLATE_ID_INVALID, as it answers).
TEMPLATE_MISSING = frozenset({"TEMPLATE_ID_INVALID", "TEMPLATE_NOT_FOUND"})
# The account's hourly budget (X-RateLimit-*): spent until the top of the next hour.
HOURLY_LIMIT_EXCEEDED = "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"
# The account's 30-second burst window (X-BurstLimit-*): gone in seconds.
BURST_LIMIT_EXCEEDED = "BURST_APIINVOCATION_LIMIT_EXCEEDED"
# One envelope read (GET) or updated (PUT) too often this hour: retrying within the hour cannot help.
ENVELOPE_POLLING_LIMIT_EXCEEDED = "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED"
ENVELOPE_UPDATE_LIMIT_EXCEEDED = "HOURLY_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED"


class DocuSignError(Exception):
    """DocuSign answered with an error that retrying will not change."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"DocuSign {status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message


class ConsentRequired(DocuSignError):
    """The impersonated user has not granted the integration consent yet."""

    def __init__(self, consent_url: str) -> None:
        super().__init__(
            400,
            "consent_required",
            f"the DocuSign user has not consented to impersonation: an admin (or the user) must "
            f"open {consent_url} once and accept",
        )
        self.consent_url = consent_url


class RateLimitExceeded(DocuSignError):
    """The account's hourly API budget is spent until ``reset_at`` (DocuSign answers 400 or 429)."""

    def __init__(self, message: str, reset_at: datetime | None, status: int = 400) -> None:
        super().__init__(status, HOURLY_LIMIT_EXCEEDED, message)
        self.reset_at = reset_at


class DocuSignUnavailable(DocuSignError):
    """Retries are exhausted, or the next wait would not fit the invocation (bursts, 5xx,
    timeouts); the caller's own retry should follow. ``maybe_done``: a call that must not
    be repeated blindly may have been carried out; look for its effect first."""

    maybe_done: bool = False
