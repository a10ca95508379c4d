"""DocuSign's refusals as exceptions, from its error bodies (``errorCode``, ``message``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

COMBINED_PDF_DOWNLOAD_NOT_ALLOWED = "COMBINED_PDF_DOWNLOAD_NOT_ALLOWED"
HOURLY_LIMIT_EXCEEDED = "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"


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
    """The account's API budget is spent until ``reset_at``."""

    def __init__(self, message: str, reset_at: datetime | None) -> None:
        super().__init__(400, HOURLY_LIMIT_EXCEEDED, message)
        self.reset_at = reset_at


class DocuSignUnavailable(DocuSignError):
    """Retries are exhausted (429, 5xx, timeouts); the caller's own retry should follow."""
