"""The local mail edge: an SMTP server on loopback that receives as SES would for the default tenant.

It accepts mail for the tenant's Smart BCC address only (others are refused at RCPT, as
SES refuses recipients no receipt rule covers), stores the raw message in the mail bucket
under ``inbound/<id>`` with the headers SES stamps on top, then invokes mail_ingest with
the SES Lambda action's event. Local mail passes every check: verdicts are PASS.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import secrets
import string
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aiosmtpd.smtp import Envelope, Session
    from mypy_boto3_s3 import S3Client

    from infra.local.streams import Invoker

from infra.local.worker import ACCOUNT_ID

log = logging.getLogger("dealwire.smtp")
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
# SES receiving's limits, which the edge applies in the SMTP dialogue:
# * "When you save your emails to an Amazon S3 bucket, the maximum email size (including
#   headers) is 40 MB. Emails larger than that bounces." (SES API reference, S3Action; the
#   receipt rule in template.yaml stores to S3 first.)
# * SES documents no limit on the length of a line; the message size bounds it. (RFC 5321
#   4.5.3.1.6's 1,000 octets is what aiosmtpd enforces by default.)
# * SES documents no limit on the recipients of one received message (its quotas page caps
#   a receipt rule at 100 recipients: configuration, not a message); the edge sets none.
MAX_MESSAGE_BYTES = 40 * 1024 * 1024
MAX_LINE_BYTES = MAX_MESSAGE_BYTES
# "headersTruncated ... will happen if the headers are larger than 10 KB" (SES notification contents).
MAX_EVENT_HEADER_BYTES = 10 * 1024
DEFAULT_FUNCTION_ARN: Final = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:mail-ingest"


def ses_message_id() -> str:
    """SES message ids are 40 lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def _verdicts(verdicts: Mapping[str, str] | None) -> dict[str, str]:
    return {name: (verdicts or {}).get(name, "PASS") for name in VERDICTS}


def ses_stamp(
    *,
    sender: str,
    recipients: list[str],
    peer: str,
    message_id: str,
    at: datetime,
    verdicts: Mapping[str, str] | None = None,
) -> bytes:
    """The headers SES prepends to a stored message (verdicts PASS unless given)."""
    found = _verdicts(verdicts)
    date = email.utils.format_datetime(at)
    received = " ".join(f"for {r};" for r in recipients)
    return (
        f"Return-Path: <{sender}>\r\n"
        f"Received: from {peer} ({peer} [{peer}])\r\n"
        f" by inbound-smtp.local.amazonaws.com with SMTP id {message_id}\r\n"
        f" {received}\r\n {date}\r\n"
        f"X-SES-Spam-Verdict: {found['spam']}\r\n"
        f"X-SES-Virus-Verdict: {found['virus']}\r\n"
        f"Authentication-Results: amazonses.com; spf={found['spf'].lower()} smtp.mailfrom={sender};"
        f" dkim={found['dkim'].lower()}; dmarc={found['dmarc'].lower()};\r\n"
        f"X-SES-RECEIPT: {message_id}\r\n"
    ).encode()


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header section's fields in order, as (name, value) with folding removed (RFC 5322 2.2.3)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        text = line.decode("utf-8", "replace")
        if text[:1] in {" ", "\t"} and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + text)
        elif ":" in text:
            name, _, value = text.partition(":")
            fields.append((name.strip(), value.lstrip(" \t")))
    return fields


def _addresses(values: list[str]) -> list[str]:
    """Each address of the fields as written: the display name (quoted as needed) and address."""
    return [
        email.utils.formataddr((name, address)) if name else address
        for name, address in email.utils.getaddresses(values)
        if address
    ]


def common_headers(fields: list[tuple[str, str]], sender: str) -> dict[str, Any]:
    """SES's ``commonHeaders``: a field is there only when the message has that header."""
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name.lower(), []).append(value)
    common: dict[str, Any] = {}
    return_path = values.get("return-path")
    common["returnPath"] = return_path[0].strip().strip("<>") if return_path else sender
    for key, header in (("from", "from"), ("sender", "sender"), ("replyTo", "reply-to")):
        if header in values:
            common[key] = _addresses(values[header])
    for key, header in (("date", "date"), ("messageId", "message-id")):
        if header in values:
            common[key] = values[header][0].strip()
    for key in ("to", "cc", "bcc"):
        if key in values:
            common[key] = _addresses(values[key])
    if "subject" in values:
        common["subject"] = values["subject"][0]
    return common


def _destination(fields: list[tuple[str, str]]) -> list[str]:
    """Every To: address of the message, then every Cc: address, once each."""
    found = [value for kind in ("to", "cc") for name, value in fields if name.lower() == kind]
    addresses = [address for _, address in email.utils.getaddresses(found) if address]
    return list(dict.fromkeys(addresses))


def _event_headers(fields: list[tuple[str, str]]) -> tuple[list[dict[str, str]], bool]:
    """The fields as SES lists them in the event, cut off past 10 KB."""
    listed: list[dict[str, str]] = []
    size = 0
    for name, value in fields:
        size += len(name) + len(value) + 4  # "name: value\r\n"
        if size > MAX_EVENT_HEADER_BYTES:
            return listed, True
        listed.append({"name": name, "value": value})
    return listed, False


def ses_event(
    *,
    message_id: str,
    sender: str,
    recipients: list[str],
    at: datetime,
    verdicts: Mapping[str, str] | None = None,
    dmarc_policy: str | None = None,
    message: bytes | None = None,
    function_arn: str = DEFAULT_FUNCTION_ARN,
    processing_ms: int = 1,
) -> dict[str, Any]:
    """The SES Lambda action's event for one delivery (verdicts PASS unless given).

    ``message`` is the object SES stores (its stamp, then the message as received): the
    event lists its header fields, and ``destination`` and ``commonHeaders`` come from
    them. Without it the event has no headers, as for a message that had none.
    """
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    receipt: dict[str, Any] = {
        "timestamp": timestamp,
        "processingTimeMillis": max(1, processing_ms),
        "recipients": recipients,
        **{f"{name}Verdict": {"status": status} for name, status in _verdicts(verdicts).items()},
        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": "Event"},
    }
    if dmarc_policy:
        receipt["dmarcPolicy"] = dmarc_policy
    fields = header_fields(message) if message else []
    headers, truncated = _event_headers(fields)
    common = common_headers(fields, sender)
    if not fields:
        common["from"] = [sender]
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": timestamp,
                        "source": sender,
                        "messageId": message_id,
                        "destination": _destination(fields),
                        "headersTruncated": truncated,
                        "headers": headers,
                        # SES fills these from the headers; a Bcc'd mail may have no To or Subject,
                        # and then the event has no such field (Powertools' SesModel requires them).
                        "commonHeaders": common,
                    },
                    "receipt": receipt,
                },
            }
        ]
    }


class SesSmtp(SMTP):
    """aiosmtpd's server with SES receiving's limits in place of RFC 5321's.

    aiosmtpd refuses a DATA line longer than ``line_length_limit`` (1,001) *octets*,
    counted with its CRLF and with the dot SMTP's transparency adds to a line that starts
    with one: 999 octets of text. A line of 524 Cyrillic letters is 1,048 octets in UTF-8,
    of 524 Japanese characters 1,572: "500 Line too long" however short it looks in an editor.
    """

    line_length_limit = MAX_LINE_BYTES


class SesController(Controller):
    def factory(self) -> SMTP:
        return SesSmtp(self.handler, **self.SMTP_kwargs)


class SesReceiving:
    """aiosmtpd handler: RCPT checks, then DATA stored and handed to mail_ingest."""

    def __init__(
        self,
        *,
        accepted: set[str],
        bucket: str,
        prefix: str,
        s3: S3Client,
        invoker: Invoker,
        function_arn: str = DEFAULT_FUNCTION_ARN,
    ) -> None:
        self.accepted = {address.lower() for address in accepted}
        self.bucket = bucket
        self.prefix = prefix
        self.s3 = s3
        self.invoker = invoker
        self.function_arn = function_arn

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        del server, session, rcpt_options
        if address.lower() not in self.accepted:
            return "550 5.1.1 Recipient address rejected: not a Smart BCC address of this account"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        del server
        received = time.monotonic()
        content = envelope.original_content or b""
        if len(content) > MAX_MESSAGE_BYTES:
            return "552 5.3.4 Message too big for system"
        message_id = ses_message_id()
        now = datetime.now(UTC)
        sender = envelope.mail_from or ""
        recipients = [r.lower() for r in envelope.rcpt_tos]
        peer = str(session.peer[0]) if session.peer else "127.0.0.1"
        raw = (
            ses_stamp(sender=sender, recipients=recipients, peer=peer, message_id=message_id, at=now)
            + content
        )
        # Durable first, as SES's S3 action runs before its Lambda action.
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + message_id, Body=raw)
        event = ses_event(
            message_id=message_id,
            sender=sender,
            recipients=recipients,
            at=now,
            message=raw,
            function_arn=self.function_arn,
            processing_ms=math.ceil((time.monotonic() - received) * 1000),
        )
        try:
            result = self.invoker.invoke(event)
            log.info("mail %s: %s", message_id, result)
        except Exception:
            # SES would retry the asynchronous invocation; the message stays in the bucket.
            log.exception("mail_ingest failed on %s; the raw message is in the bucket", message_id)
        return f"250 Ok: queued as {message_id}"


class SmtpEdge:
    def __init__(
        self,
        *,
        port: int,
        accepted: set[str],
        bucket: str,
        prefix: str,
        region: str,
        endpoint_url: str,
        invoker: Invoker,
        function_arn: str = DEFAULT_FUNCTION_ARN,
    ) -> None:
        s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
        self.handler = SesReceiving(
            accepted=accepted, bucket=bucket, prefix=prefix, s3=s3, invoker=invoker, function_arn=function_arn
        )
        self.controller = SesController(
            self.handler, hostname="127.0.0.1", port=port, data_size_limit=MAX_MESSAGE_BYTES, ready_timeout=10
        )

    def start(self) -> None:
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
