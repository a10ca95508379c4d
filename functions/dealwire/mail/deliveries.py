"""Where a delivery's raw message is, and what SES said of it, from the record that announces it.

Two records do: SES receiving's Lambda action (the message is at ``<raw prefix><SES
messageId>``, SES's S3 action put it there first), and an S3 ``ObjectCreated`` event for
a copy under ``redrive/`` (the receipt is then read from the headers SES stamped).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from dealwire.contracts.ses import Delivery, SesRecord


class UnsupportedRecord(ValueError):
    """Neither an SES receipt nor an S3 object in the mail bucket: retried, then the failure queue."""


@dataclass(frozen=True, slots=True)
class FoundDelivery:
    key: str
    delivery: Delivery | None  # None: read it from the stamp in the message
    ses_message_id: str
    received_at: str


def records_of(event: object) -> list[dict[str, Any]]:
    """The event's records; an event that is not ``{"Records": [{...}, ...]}`` is refused."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise UnsupportedRecord("the event is not a list of Records, each an object")
    return records


def delivery_of_record(record: dict[str, Any], *, raw_prefix: str, mail_bucket: str) -> FoundDelivery:
    source = record.get("eventSource")
    if source == "aws:ses":
        ses = SesRecord.model_validate(record)
        message_id = ses.ses.mail.message_id
        return FoundDelivery(
            key=raw_prefix + message_id,
            delivery=Delivery.of(ses),
            ses_message_id=message_id,
            received_at=ses.ses.receipt.timestamp or ses.ses.mail.timestamp,
        )
    if source == "aws:s3" and str(record.get("eventName", "")).startswith("ObjectCreated"):
        s3 = _object(record.get("s3"))
        bucket = _object(s3.get("bucket")).get("name")
        if bucket != mail_bucket:
            raise UnsupportedRecord(f"object in bucket {bucket!r}, not the mail bucket")
        # S3 event keys are URL-encoded, spaces as '+'.
        key = urllib.parse.unquote_plus(str(_object(s3.get("object")).get("key", "")))
        if not key:
            raise UnsupportedRecord("S3 record names no object key")
        return FoundDelivery(
            key=key,
            delivery=None,
            ses_message_id=key.rsplit("/", 1)[-1],
            received_at=str(record.get("eventTime", "")),
        )
    raise UnsupportedRecord(f"unsupported record from {source!r}")


def _object(value: object) -> dict[str, Any]:
    """A part of the S3 record that must be an object; anything else reads as empty."""
    return value if isinstance(value, dict) else {}
