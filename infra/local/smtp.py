"""The local mail edge: an SMTP server on loopback that receives as SES would for the default tenant.

It accepts mail for the tenant's Smart BCC address only (others are refused at RCPT, as
SES refuses recipients no receipt rule covers), stores the raw message in the mail bucket
under ``inbound/<id>`` with the headers SES stamps on top, then invokes mail_ingest with
the SES Lambda action's event. Local mail passes every check: verdicts are PASS.
"""

from __future__ import annotations

import email.utils
import logging
import secrets
import string
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aiosmtpd.smtp import Envelope, Session
    from mypy_boto3_s3 import S3Client

    from infra.local.streams import Invoker

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


def ses_event(
    *,
    message_id: str,
    sender: str,
    recipients: list[str],
    at: datetime,
    verdicts: Mapping[str, str] | None = None,
    dmarc_policy: str | None = None,
) -> dict[str, Any]:
    """The SES Lambda action's event for one delivery (verdicts PASS unless given)."""
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    receipt: dict[str, Any] = {
        "timestamp": timestamp,
        "processingTimeMillis": 0,
        "recipients": recipients,
        **{f"{name}Verdict": {"status": status} for name, status in _verdicts(verdicts).items()},
        "action": {"type": "Lambda", "invocationType": "Event"},
    }
    if dmarc_policy:
        receipt["dmarcPolicy"] = dmarc_policy
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
                        "destination": [],
                        "headersTruncated": False,
                        "headers": [],
                        # SES fills these from the headers; a Bcc'd mail may have no To or Subject.
                        "commonHeaders": {"returnPath": sender, "from": [sender]},
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
    ) -> None:
        self.accepted = {address.lower() for address in accepted}
        self.bucket = bucket
        self.prefix = prefix
        self.s3 = s3
        self.invoker = invoker

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
        try:
            result = self.invoker.invoke(
                ses_event(message_id=message_id, sender=sender, recipients=recipients, at=now)
            )
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
    ) -> None:
        s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
        self.handler = SesReceiving(accepted=accepted, bucket=bucket, prefix=prefix, s3=s3, invoker=invoker)
        self.controller = SesController(
            self.handler, hostname="127.0.0.1", port=port, data_size_limit=MAX_MESSAGE_BYTES, ready_timeout=10
        )

    def start(self) -> None:
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
