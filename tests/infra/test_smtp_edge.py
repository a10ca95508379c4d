"""The local SMTP edge takes what SES receiving takes: lines past RFC 5321's limit, up to 40 MB a message."""

from __future__ import annotations

import email.utils
import smtplib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from aws_lambda_powertools.utilities.parser.models import SesModel

from infra.local import smtp
from infra.local.launch import free_port
from tests.infra.test_ses_event import stdlib_fields

if TYPE_CHECKING:
    from collections.abc import Iterator

CORPUS = Path(__file__).resolve().parents[1] / "events" / "mail" / "corpus"
LONG_LINES = [
    "bcc-zimbra-long-html-line.eml",
    "bcc-nodemailer-long-base64.eml",
    "bcc-japanese-long-8bit-line.eml",
]
BCC = "default@bcc.dealwire.localhost"
SENDER = "ulla.user@acme-sales.example"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:dealwire-local-MailIngestFunction"


class Store:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 - boto3's names
        del Bucket
        self.objects[Key] = Body


class Invoker:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"outcomes": []}


def as_sent(name: str) -> bytes:
    """The corpus file is what SES stored; the message as sent starts at the sender's relay hop."""
    stored = (CORPUS / name).read_bytes()
    return stored[stored.index(b"\r\nReceived: by mail-") + 2 :]


@pytest.fixture
def edge() -> Iterator[tuple[int, Store, Invoker]]:
    store, invoker = Store(), Invoker()
    handler = smtp.SesReceiving(
        accepted={BCC},
        bucket="mail",
        prefix="inbound/",
        s3=store,
        invoker=invoker,
        function_arn=ARN,  # type: ignore[arg-type]
    )
    port = free_port()
    controller = smtp.SesController(
        handler, hostname="127.0.0.1", port=port, data_size_limit=smtp.MAX_MESSAGE_BYTES, ready_timeout=10
    )
    controller.start()
    try:
        yield port, store, invoker
    finally:
        controller.stop()


def send(port: int, message: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(SENDER, [BCC], message, mail_options=["BODY=8BITMIME"])


@pytest.mark.parametrize("name", LONG_LINES)
def test_aiosmtpd_with_its_defaults_refuses_these_lines(name: str) -> None:
    """Why the edge needs its own limits: aiosmtpd counts octets, 999 of them plus CRLF."""

    class Accepting:
        async def handle_DATA(self, *_: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
            return "250 OK"

    port = free_port()
    controller = Controller(Accepting(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(port, as_sent(name))
    finally:
        controller.stop()
    assert refused.value.smtp_code == 500
    assert b"Line too long" in refused.value.smtp_error


@pytest.mark.parametrize("name", LONG_LINES)
def test_the_edge_accepts_them_and_stores_them_whole(edge: tuple[int, Store, Invoker], name: str) -> None:
    port, store, invoker = edge
    message = as_sent(name)
    assert 999 < max(len(line) for line in message.split(b"\r\n")) <= 2000

    assert send(port, message) == {}
    [(key, body)] = store.objects.items()
    [event] = invoker.events
    mail, receipt = event["Records"][0]["ses"]["mail"], event["Records"][0]["ses"]["receipt"]
    assert key == f"inbound/{mail['messageId']}"
    assert body.endswith(message)
    # The event describes the stored object: SES's block, then the message's own fields.
    assert [(h["name"], h["value"]) for h in mail["headers"]] == stdlib_fields(body)[: len(mail["headers"])]
    assert mail["destination"] == [email.utils.parseaddr(a)[1] for a in mail["commonHeaders"]["to"]]
    assert receipt["action"] == {"type": "Lambda", "functionArn": ARN, "invocationType": "Event"}
    assert receipt["processingTimeMillis"] >= 1
    SesModel.model_validate(event)


def test_the_edge_refuses_a_message_over_ses_40_mb_in_the_dialogue(edge: tuple[int, Store, Invoker]) -> None:
    port, store, _ = edge
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("size")
        assert int(client.esmtp_features["size"]) == smtp.MAX_MESSAGE_BYTES
        code, _ = client.mail(SENDER, options=[f"SIZE={smtp.MAX_MESSAGE_BYTES + 1}"])
    assert code == 552
    assert store.objects == {}
