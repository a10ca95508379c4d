"""Why a Connect message was refused; each maps to one HTTP status at the edge."""

from __future__ import annotations


class ConnectRefusal(Exception):
    """A message dealwire will not record. ``status`` is the HTTP answer."""

    status = 400
    reason = "invalid_payload"

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # For the operator's log only; ``message`` is what the caller is told.
        self.detail = detail or message


class MalformedPayload(ConnectRefusal):
    """Not well-formed JSON or XML, or not a Connect message at all."""

    reason = "malformed"


class UnreadablePayload(MalformedPayload):
    """Authentic, but reading it failed in a way no rule foresaw: kept for a replay after a fix."""

    reason = "unreadable"


class SchemaViolation(ConnectRefusal):
    """Well-formed, but a field Connect always sends is missing or of the wrong type."""

    reason = "schema_violation"


class UnsupportedContentType(ConnectRefusal):
    status = 415
    reason = "unsupported_content_type"


class PayloadTooLarge(ConnectRefusal):
    status = 413
    reason = "too_large"


class TooLargeToRecord(ConnectRefusal):
    """Parsed, but an item it implies cannot be stored (DynamoDB's 400 KB per item)."""

    status = 422
    reason = "too_large_to_record"


class AccountMismatch(ConnectRefusal):
    """The message names a DocuSign account other than the tenant's."""

    status = 403
    reason = "account_mismatch"


class SignatureRejected(ConnectRefusal):
    """No X-DocuSign-Signature-N header matches a configured HMAC key."""

    status = 401
    reason = "bad_signature"


class UnknownTenant(ConnectRefusal):
    status = 404
    reason = "unknown_tenant"
