"""The local SMTP edge's SES event and limits: what SES sends and accepts.

SES's event lists the stored object's header fields in order (its own block first), sets
``destination`` to the message's To: and Cc: addresses, and puts in ``commonHeaders`` only
the fields the message has ("The fields present in this object vary depending on which
fields were present in the incoming email", SES developer guide, "Contents of notifications
for Amazon SES email receiving"). Powertools' SesModel requires ``to``, ``subject``,
``date`` and ``messageId``: a Bcc'd mail with no To: or Subject: is a real SES event it
refuses. The edge follows SES; the tests pin down exactly where the two part.
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SesModel
from pydantic import ValidationError

from infra.local import smtp

EVENTS = Path(__file__).resolve().parents[1] / "events"
CORPUS = EVENTS / "mail" / "corpus"
SAM_EVENT = json.loads((EVENTS / "ses" / "sam_email_receiving.json").read_text())
BCC = "default@bcc.dealwire.localhost"
SENDER = "ulla.user@acme-sales.example"
AT = datetime(2026, 11, 24, 9, 15, 2, 311_000, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:dealwire-local-MailIngestFunction"


def built(*, to: str | None, subject: str | None, cc: str | None = None, references: int = 0) -> bytes:
    message = EmailMessage()
    message["From"] = f'"User, Ulla" <{SENDER}>'
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    if subject is not None:
        message["Subject"] = subject
    message["Date"] = "Tue, 24 Nov 2026 10:15:00 +0100"
    message["Message-ID"] = "<built@acme-sales.example>"
    if references:
        message["References"] = " ".join(f"<ref-{n:04d}@mail.gmail.example>" for n in range(references))
    message.set_content("Hello.\n")
    stamp = smtp.ses_stamp(sender=SENDER, recipients=[BCC], peer="198.51.100.7", message_id="m1", at=AT)
    return stamp + message.as_bytes().replace(b"\n", b"\r\n")


BUILT = {
    "to-and-subject": built(to="Carla Customer <carla@customer.example>, bob@customer.example", subject="Hi"),
    "cc-only": built(to=None, cc='"Buyer, Bob" <bob@customer.example>', subject="Cc only"),
    "no-subject": built(to="carla@customer.example", subject=None),
    "empty-subject": built(to="carla@customer.example", subject=""),
    "no-to-no-subject": built(to=None, subject=None),
    "headers-over-10kb": built(to="carla@customer.example", subject="Long thread", references=400),
}
MESSAGES = {
    **{path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))},
    **BUILT,
}


def event_for(raw: bytes) -> dict[str, Any]:
    return smtp.ses_event(
        message_id="m1",
        sender=SENDER,
        recipients=[BCC],
        at=AT,
        message=raw,
        function_arn=ARN,
        processing_ms=412,
    )


def stdlib_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header fields as the stdlib's compat32 parser reads them, unfolded."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [(name, re.sub(r"\r?\n", "", str(value))) for name, value in parsed.items()]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_the_event_lists_the_headers_and_derives_destination_and_common_headers(name: str) -> None:
    raw = MESSAGES[name]
    mail = event_for(raw)["Records"][0]["ses"]["mail"]
    fields = stdlib_fields(raw)
    listed = [(h["name"], h["value"]) for h in mail["headers"]]

    assert listed == fields[: len(listed)]
    assert mail["headersTruncated"] == (len(listed) < len(fields))
    assert [name for name, _ in fields[:3]] == ["Return-Path", "Received", "X-SES-Spam-Verdict"]
    values = {n.lower(): [v for k, v in fields if k.lower() == n.lower()] for n, _ in fields}
    recipients = email.utils.getaddresses(values.get("to", []) + values.get("cc", []))
    assert mail["destination"] == list(dict.fromkeys(address for _, address in recipients if address))
    common = mail["commonHeaders"]
    assert common["returnPath"] == values["return-path"][0].strip().strip("<>")  # SES's, the first
    for key, header in (
        ("to", "to"),
        ("cc", "cc"),
        ("subject", "subject"),
        ("date", "date"),
        ("messageId", "message-id"),
    ):
        assert (key in common) == (header in values), key
    if "subject" in values:
        assert common["subject"] == values["subject"][0]
    if "to" in values:
        assert [email.utils.parseaddr(a)[1] for a in common["to"]] == [
            address for _, address in email.utils.getaddresses(values["to"]) if address
        ]
    receipt = event_for(raw)["Records"][0]["ses"]["receipt"]
    assert receipt["action"] == {"type": "Lambda", "functionArn": ARN, "invocationType": "Event"}
    assert receipt["processingTimeMillis"] == 412


def test_display_names_are_kept_as_written_quoted_where_they_need_it() -> None:
    common = event_for(BUILT["to-and-subject"])["Records"][0]["ses"]["mail"]["commonHeaders"]
    assert common["from"] == [f'"User, Ulla" <{SENDER}>']
    assert common["to"] == ["Carla Customer <carla@customer.example>", "bob@customer.example"]
    assert event_for(BUILT["headers-over-10kb"])["Records"][0]["ses"]["mail"]["headersTruncated"] is True


def _complete(raw: bytes) -> bool:
    names = {name.lower() for name, _ in stdlib_fields(raw)}
    return {"to", "subject", "date", "message-id", "from"} <= names


@pytest.mark.parametrize("name", sorted(name for name, raw in MESSAGES.items() if _complete(raw)))
def test_powertools_sesmodel_accepts_the_event_of_a_message_with_to_and_subject(name: str) -> None:
    parsed = SesModel.model_validate(event_for(MESSAGES[name]))
    assert parsed.Records[0].ses.receipt.action.functionArn == ARN


@pytest.mark.parametrize("name", sorted(name for name, raw in MESSAGES.items() if not _complete(raw)))
def test_sesmodel_requires_the_common_headers_ses_leaves_out(name: str) -> None:
    """Where the message lacks To: or Subject:, SES omits the field and SesModel refuses the event."""
    names = {field.lower() for field, _ in stdlib_fields(MESSAGES[name])}
    missing = {key for key, header in (("to", "to"), ("subject", "subject")) if header not in names}
    with pytest.raises(ValidationError) as refused:
        SesModel.model_validate(event_for(MESSAGES[name]))
    locations = {error["loc"][-1] for error in refused.value.errors()}
    assert locations == missing


def key_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return {p for key, item in value.items() for p in key_paths(item, f"{prefix}.{key}")} | {prefix}
    if isinstance(value, list):
        return {p for item in value for p in key_paths(item, f"{prefix}[]")} | {prefix}
    return {prefix}


def test_the_event_has_every_field_of_sams_generated_sample() -> None:
    """`sam local generate-event ses email-receiving` (tests/events/ses); SAM's sample has no dmarcVerdict."""
    ours = key_paths(event_for(BUILT["to-and-subject"]))
    assert key_paths(SAM_EVENT) - ours == set()
    assert ours - key_paths(SAM_EVENT) == {
        ".Records[].ses.receipt.dmarcVerdict",
        ".Records[].ses.receipt.dmarcVerdict.status",
    }
