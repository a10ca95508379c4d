"""Smart BCC over `make run`: mail sent to the SMTP edge ends as a linked thread; others are refused."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import boto3
import pytest

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


def test_the_edge_refuses_recipients_that_are_not_the_smart_bcc_address(local_stack: LocalStack) -> None:
    state = local_stack.state
    message = EmailMessage()
    message["From"] = state["user_email"]
    message["Subject"] = "nope"
    message.set_content("x")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(state, message, ["someone@elsewhere.example"])
