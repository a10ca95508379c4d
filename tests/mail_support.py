"""Builders for the mail tests: SES receipts, raw messages in the bucket, the CRM projection."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from dealwire.contracts.crm import DealUpserted, PersonUpserted, UserUpserted
from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore
from infra.local import smtp
from tests.support import FakeContext

if TYPE_CHECKING:
    from infra.local.template import Stack

BCC = "default@bcc.dealwire.test"
USER_EMAIL = "ulla.user@acme-sales.example"
CARLA = "carla@customer-corp.example"
BOB = "bob.buyer@customer-corp.example"
RECEIVED = datetime(2026, 11, 24, 9, 15, 2, 311_000, tzinfo=UTC)


def ses_event(
    message_id: str,
    recipients: list[str] | None = None,
    verdicts: dict[str, str] | None = None,
    *,
    dmarc_policy: str | None = None,
) -> dict[str, Any]:
    """The SES Lambda action's event, as the local SMTP edge builds it (no To, no subject)."""
    return smtp.ses_event(
        message_id=message_id,
        sender=USER_EMAIL,
        recipients=recipients or [BCC],
        at=RECEIVED,
        verdicts=verdicts,
        dmarc_policy=dmarc_policy,
    )


def ses_stamp(recipient: str = BCC, verdicts: dict[str, str] | None = None) -> bytes:
    """The headers SES prepends to the object its S3 action stores."""
    return smtp.ses_stamp(
        sender=USER_EMAIL,
        recipients=[recipient],
        peer="mail-wm1-f41.google.com",
        message_id="0abc123def",
        at=RECEIVED,
        verdicts=verdicts,
    )


def bcc_mail(
    *,
    sender: str = f"Ulla User <{USER_EMAIL}>",
    to: str | None = f"Carla Customer <{CARLA}>",
    subject: str | None = "Proposal for Q3",
    message_id: str = "<CAF=q3-proposal@mail.gmail.com>",
    body: str = "Hi Carla,\n\nattached is our proposal.\n",
    extra: dict[str, str] | None = None,
    date: str = "Tue, 24 Nov 2026 10:15:00 +0100",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    if to:
        message["To"] = to
    if subject is not None:
        message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = message_id
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes().replace(b"\n", b"\r\n")


def put_raw(stack: Stack, message_id: str, raw: bytes, prefix: str = "inbound/") -> str:
    import boto3

    key = prefix + message_id
    boto3.client("s3", region_name=stack.region).put_object(Bucket=mail_bucket(stack), Key=key, Body=raw)
    return key


def mail_bucket(stack: Stack) -> str:
    return stack.function_environment("MailIngestFunction")["DEALWIRE_MAIL_BUCKET"]


def part_bytes(stack: Stack, part: dict[str, Any]) -> bytes:
    """A stored part's bytes as its record places them: its own object, or its range of a pack."""
    import boto3

    request: dict[str, Any] = {"Bucket": mail_bucket(stack), "Key": part["key"]}
    if part.get("packed"):
        if not part["size"]:
            return b""
        start = int(part["offset"])
        request["Range"] = f"bytes={start}-{start + int(part['size']) - 1}"
    return bytes(boto3.client("s3", region_name=stack.region).get_object(**request)["Body"].read())


def table(stack: Stack) -> str:
    return stack.function_environment("MailIngestFunction")["DEALWIRE_TABLE_NAME"]


def seed_crm(
    stack: Stack, *, sharing: str = "shared", deals: dict[str, list[str]] | None = None
) -> CrmProjection:
    """One user, Carla and Bob as contacts, and deals (id -> person ids), all open."""
    crm = CrmProjection(table(stack))
    crm.upsert_user(
        UserUpserted(
            tenant_id="default",
            user_id="user-3",
            name="Ulla User",
            email=USER_EMAIL,
            mail_sharing=sharing,  # type: ignore[arg-type]
            updated_at="2026-11-20T08:00:00Z",
        )
    )
    crm.upsert_user(
        UserUpserted(
            tenant_id="default",
            user_id="user-4",
            name="Sam Seller",
            email="sam.seller@acme-sales.example",
            updated_at="2026-11-20T08:00:00Z",
        )
    )
    for person, address in (("person-17", CARLA), ("person-18", BOB)):
        crm.upsert_person(
            PersonUpserted(
                tenant_id="default",
                person_id=person,
                name=person,
                emails=[address],
                updated_at="2026-11-20T08:01:00Z",
            )
        )
    for deal, people in (deals if deals is not None else {"deal-42": ["person-17"]}).items():
        crm.upsert_deal(
            DealUpserted(
                tenant_id="default",
                deal_id=deal,
                title=deal,
                status="open",
                person_ids=people,
                updated_at="2026-11-20T08:02:00Z",
            )
        )
    return crm


def s3_event(stack: Stack, key: str, name: str = "ObjectCreated:Copy") -> dict[str, Any]:
    """S3's notification for an object copied under redrive/."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": name,
                "eventTime": "2026-11-24T11:00:00.000Z",
                "s3": {"bucket": {"name": mail_bucket(stack)}, "object": {"key": key}},
            }
        ]
    }


def thread_and_messages(stack: Stack, thread_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored thread item and all its messages, oldest first."""
    store = MailStore(table(stack))
    thread = store.thread("default", thread_id)
    assert thread is not None, f"no thread {thread_id}"
    return thread.item, store.thread_messages("default", thread_id, limit=200).items


def ingest(event: dict[str, Any]) -> dict[str, Any]:
    from mail_ingest import app

    result: dict[str, Any] = app.lambda_handler(event, FakeContext())
    return result
