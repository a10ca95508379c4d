"""Smart BCC over `make run`: mail sent to the SMTP edge ends as a linked thread; others are refused."""

from __future__ import annotations

import json
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from dealwire.store.table import user_key
from infra.local.template import Stack, load_template
from tests.e2e.test_crm_api import get
from tests.e2e.test_local_stack import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack


def send(state: dict[str, Any], message: EmailMessage, recipients: list[str]) -> None:
    with smtplib.SMTP(state["smtp_host"], state["smtp_port"], timeout=30) as smtp:
        smtp.send_message(message, to_addrs=recipients)


def threads_with(state: dict[str, Any], subject: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=state["region"], endpoint_url=state["aws_endpoint_url"])
    items = dynamodb.scan(TableName=state["table_name"])["Items"]  # the local table is tiny; tests only
    return [i for i in items if i["sk"]["S"] == "THREAD" and i.get("subject", {}).get("S") == subject]


def test_a_bcc_mail_over_smtp_becomes_a_thread_linked_to_the_contacts_deal(local_stack: LocalStack) -> None:
    state = local_stack.state
    message = EmailMessage()
    message["From"] = f"Dev User <{state['user_email']}>"
    message["To"] = f"Carla Customer <{state['contact_email']}>"
    message["Subject"] = "Local proposal"
    message["Message-ID"] = "<local-proposal@dealwire.localhost>"
    message.set_content("Hello Carla, here it is.")
    message.add_attachment(b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="offer.pdf")
    # Bcc: the edge is only the Smart BCC address's server, so only that recipient is sent to it.
    send(state, message, [state["bcc_address"]])
    deadline = time.monotonic() + 30
    while not (found := threads_with(state, "Local proposal")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [thread] = found
    assert thread["link_state"]["S"] == "linked"
    assert thread["deal_id"]["S"] == "deal-1"
    # Through the API as a CRM reads it: the small attachment is packed, and its link (the
    # gateway's own address, no token) answers its bytes as they were sent.
    page = get(local_stack, f"/threads/{thread['thread_id']['S']}").json()
    [stored] = [part for part in page["messages"][0]["parts"] if part["filename"] == "offer.pdf"]
    assert stored["url"].startswith(f"http://{urlsplit(state['api_url']).netloc}/v1/mail/parts?")
    download = httpx.get(stored["url"], timeout=10, trust_env=False)
    assert download.status_code == 200
    assert download.content == b"%PDF-1.4 test"
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == 'attachment; filename="offer.pdf"'


def test_the_edge_refuses_recipients_that_are_not_the_smart_bcc_address(local_stack: LocalStack) -> None:
    state = local_stack.state
    message = EmailMessage()
    message["From"] = state["user_email"]
    message["Subject"] = "nope"
    message.set_content("x")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(state, message, ["someone@elsewhere.example"])


CORPUS = Path(__file__).resolve().parents[1] / "events" / "mail" / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
# Corpus messages whose lines run past RFC 5322's 998 octets, or past aiosmtpd's 999 (a line of
# 524 Japanese characters is 1,572 octets): SES receives them, so the local edge must too.
LONG_LINES = [
    "bcc-zimbra-long-html-line.eml",
    "bcc-nodemailer-long-base64.eml",
    "bcc-japanese-long-8bit-line.eml",
]
# The header fields SES puts above a message it stores; the corpus files start with them.
SES_FIELDS = {
    "return-path",
    "received",
    "x-ses-spam-verdict",
    "x-ses-virus-verdict",
    "received-spf",
    "authentication-results",
    "x-ses-receipt",
    "x-ses-dkim-signature",
}


def as_sent(stored: bytes) -> tuple[str, bytes]:
    """The envelope sender and the message as the sender's server sent it: SES's block taken off."""
    lines = stored.split(b"\r\n")
    sender, index = "", 0
    while index < len(lines):
        name = lines[index].split(b":", 1)[0].decode().lower()
        if name not in SES_FIELDS or (name == "received" and b"inbound-smtp" not in lines[index + 1]):
            break
        if name == "return-path":
            sender = lines[index].split(b":", 1)[1].decode().strip().strip("<>")
        index += 1
        while lines[index][:1] in {b" ", b"\t"}:
            index += 1
    return sender, b"\r\n".join(lines[index:])


@pytest.fixture(scope="module")
def corpus_user(local_stack: LocalStack) -> str:
    """The corpus's sender, made a user who may file mail, through the CRM's event on the bus."""
    state = local_stack.state
    stack = Stack(name=state["stack_name"], region=state["region"], template=load_template())
    address = EXPECTED[LONG_LINES[0]]["from"]
    detail = {
        "tenantId": state["tenant_id"],
        "updatedAt": "2026-01-01T00:00:00Z",
        "userId": "user-corpus",
        "name": "Ulla User",
        "email": address,
        "mailSharing": "shared",
    }
    local_stack.client("events").put_events(
        Entries=[
            {
                "Source": str(stack.parameter("CrmEventSource")),
                "DetailType": "user.upserted",
                "Detail": json.dumps(detail),
                "EventBusName": state["event_bus_name"],
            }
        ]
    )
    dynamodb = local_stack.client("dynamodb")
    key = user_key(state["tenant_id"], "user-corpus").item()
    eventually(
        lambda: dynamodb.get_item(TableName=state["table_name"], Key=key).get("Item"), "the user's projection"
    )
    return str(address)


@pytest.mark.parametrize("name", LONG_LINES)
def test_long_lines_are_accepted_over_smtp_and_filed(
    local_stack: LocalStack, corpus_user: str, name: str
) -> None:
    state = local_stack.state
    sender, raw = as_sent((CORPUS / name).read_bytes())
    assert sender == corpus_user
    assert max(len(line) for line in raw.split(b"\r\n")) > 999  # past aiosmtpd's default

    with smtplib.SMTP(state["smtp_host"], state["smtp_port"], timeout=30) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail(sender, options=["BODY=8BITMIME", f"SIZE={len(raw)}"])
        assert code == 250
        assert smtp.rcpt(state["bcc_address"])[0] == 250
        code, answer = smtp.data(raw)
    assert code == 250, answer

    subject = EXPECTED[name]["subject"]
    [thread] = eventually(lambda: threads_with(state, subject), f"the thread of {name}", timeout=30)
    assert thread["subject"]["S"] == subject
