"""mail_ingest under moto: SES event or S3 re-drive in, a linked thread or a refusal with its reason out."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dealwire.store.mail import MailStore
from dealwire.store.table import deserialize, rejection_key
from tests.mail_support import (
    BCC,
    BOB,
    CARLA,
    USER_EMAIL,
    bcc_mail,
    ingest,
    mail_bucket,
    part_bytes,
    put_raw,
    s3_event,
    seed_crm,
    ses_event,
    ses_stamp,
    table,
    thread_and_messages,
)
from tests.support import EVENTS

if TYPE_CHECKING:
    from infra.local.template import Stack


def rejections(stack: Stack) -> list[dict[str, Any]]:
    """The tenant's recorded refusals (what ``mail.rejected`` is published from)."""
    partition = rejection_key("default", "", "").pk
    answer = boto3.client("dynamodb", region_name=stack.region).query(
        TableName=table(stack),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition}},
    )
    return [deserialize(item) for item in answer["Items"]]


def tags(stack: Stack, key: str) -> dict[str, str]:
    answer = boto3.client("s3", region_name=stack.region).get_object_tagging(
        Bucket=mail_bucket(stack), Key=key
    )
    return {tag["Key"]: tag["Value"] for tag in answer["TagSet"]}


def test_a_bcc_mail_is_stored_and_linked_to_the_contacts_one_open_deal(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    answer = ingest(ses_event("m1"))
    [outcome] = answer["outcomes"]
    assert outcome["status"] == "stored"
    thread, [message] = thread_and_messages(aws, outcome["threadId"])
    assert thread["link_state"] == "linked"
    assert thread["contact_ids"] == ["person-17"]
    assert thread["deal_id"] == "deal-42"
    assert message["owner_user_id"] == "user-3"
    assert message["kind"] == "bcc"
    assert [p["role"] for p in message["parts"]] == ["text"]
    assert b"attached is our proposal" in part_bytes(aws, message["parts"][0])


def test_the_same_message_delivered_twice_is_stored_once(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    put_raw(aws, "m2", bcc_mail())
    first = ingest(ses_event("m1"))["outcomes"][0]
    second = ingest(ses_event("m2"))["outcomes"][0]
    assert (first["status"], second["status"]) == ("stored", "duplicate")
    _, messages = thread_and_messages(aws, first["threadId"])
    assert len(messages) == 1


def test_a_reply_joins_the_thread_by_references_and_a_reply_without_them_by_subject(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    put_raw(
        aws,
        "m2",
        bcc_mail(
            subject="Re: Proposal for Q3",
            message_id="<r1@x>",
            extra={"In-Reply-To": "<CAF=q3-proposal@mail.gmail.com>"},
        ),
    )
    put_raw(aws, "m3", bcc_mail(subject="AW: RE: Proposal for Q3", message_id="<r2@x>"))
    threads = {ingest(ses_event(m))["outcomes"][0]["threadId"] for m in ("m1", "m2", "m3")}
    assert len(threads) == 1
    thread, messages = thread_and_messages(aws, threads.pop())
    assert thread["message_count"] == 3
    assert len(messages) == 3


def test_several_open_deals_ask_for_a_choice_and_the_choice_sticks(aws: Stack) -> None:
    seed_crm(aws, deals={"deal-42": ["person-17"], "deal-57": ["person-17"]})
    put_raw(aws, "m1", bcc_mail())
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    thread, _ = thread_and_messages(aws, outcome["threadId"])
    assert thread["link_state"] == "needs_deal_choice"
    assert thread["candidates"] == ["deal-42", "deal-57"]
    store = MailStore(table(aws))
    state = store.thread("default", outcome["threadId"])
    assert state is not None
    store.choose_deal("default", state, "deal-57", "user-3", "2026-11-24T10:00:00Z")
    put_raw(
        aws,
        "m2",
        bcc_mail(
            subject="Re: Proposal for Q3",
            message_id="<r1@x>",
            extra={"References": "<CAF=q3-proposal@mail.gmail.com>"},
        ),
    )
    ingest(ses_event("m2"))
    thread, _ = thread_and_messages(aws, outcome["threadId"])
    assert (thread["link_state"], thread["deal_id"], thread["deal_chosen"]) == ("linked", "deal-57", True)


def test_mail_to_no_known_contact_is_stored_unlinked(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail(to="Stranger <stranger@elsewhere.example>"))
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    thread, _ = thread_and_messages(aws, outcome["threadId"])
    assert thread["link_state"] == "unlinked"
    assert "deal_id" not in thread


def test_an_unknown_sender_is_refused_kept_with_its_reason_and_announced(aws: Stack) -> None:
    seed_crm(aws)
    key = put_raw(aws, "m1", bcc_mail(sender="Mallory <mallory@evil.example>"))
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    assert (outcome["status"], outcome["reason"]) == ("rejected", "sender_not_allowed")
    assert tags(aws, key) == {"dealwire-outcome": "rejected", "dealwire-reason": "sender_not_allowed"}
    assert [item["reason"] for item in rejections(aws)] == ["sender_not_allowed"]


@pytest.mark.parametrize(
    "sender",
    [
        f"Ulla User <{USER_EMAIL}>, Mallory <mallory@evil.example>",
        f"Mallory <mallory@evil.example>, Ulla User <{USER_EMAIL}>",
    ],
)
def test_a_from_naming_two_addresses_is_refused_whichever_comes_first(aws: Stack, sender: str) -> None:
    seed_crm(aws)
    key = put_raw(aws, "m1", bcc_mail(sender=sender))
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    assert (outcome["status"], outcome["reason"]) == ("rejected", "ambiguous_sender")
    assert tags(aws, key) == {"dealwire-outcome": "rejected", "dealwire-reason": "ambiguous_sender"}
    assert [item["reason"] for item in rejections(aws)] == ["ambiguous_sender"]


@pytest.mark.parametrize(
    ("verdicts", "status", "reason"),
    [
        ({"spam": "FAIL"}, "dropped", "spam"),
        ({"virus": "FAIL"}, "dropped", "virus"),
        ({"dmarc": "FAIL"}, "rejected", "sender_not_trusted"),
        ({"spf": "FAIL", "dkim": "FAIL"}, "rejected", "sender_not_trusted"),
    ],
)
def test_ses_verdicts_are_honoured(aws: Stack, verdicts: dict[str, str], status: str, reason: str) -> None:
    seed_crm(aws)
    key = put_raw(aws, "m1", bcc_mail())
    outcome = ingest(ses_event("m1", verdicts=verdicts, dmarc_policy="reject"))["outcomes"][0]
    assert (outcome["status"], outcome["reason"]) == (status, reason)
    assert tags(aws, key)["dealwire-reason"] == reason


@pytest.mark.parametrize("verdict", ["GRAY", "PROCESSING_FAILED", "DISABLED"])
def test_verdicts_that_are_not_failures_do_not_refuse(aws: Stack, verdict: str) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    event = ses_event("m1", verdicts=dict.fromkeys(("spam", "virus", "spf", "dkim", "dmarc"), verdict))
    assert ingest(event)["outcomes"][0]["status"] == "stored"


def test_a_mail_without_to_or_subject_is_filed(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail(to=None, subject=None))
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    assert outcome["status"] == "stored"


def test_recipients_outside_the_mail_domain_or_of_no_tenant_are_refused(aws: Stack) -> None:
    key = put_raw(aws, "m1", bcc_mail())
    outcome = ingest(ses_event("m1", recipients=["someone@other.example", "ghost@bcc.dealwire.test"]))[
        "outcomes"
    ][0]
    assert (outcome["status"], outcome["reason"]) == ("rejected", "no_tenant")
    assert tags(aws, key)["dealwire-reason"] == "no_tenant"


def test_a_plus_tagged_bcc_address_and_a_second_recipient_file_once(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    answer = ingest(ses_event("m1", recipients=[BCC, "default+sales@bcc.dealwire.test"]))
    assert [o["status"] for o in answer["outcomes"]] == ["stored"]


def test_a_copy_under_redrive_is_filed_from_the_stamp_ses_wrote(aws: Stack) -> None:
    seed_crm(aws)
    key = put_raw(aws, "m1", ses_stamp() + bcc_mail(), prefix="redrive/")
    event = s3_event(aws, key, "ObjectCreated:Copy")
    outcome = ingest(event)["outcomes"][0]
    assert outcome["status"] == "stored"


def test_a_forged_stamp_below_the_ses_one_is_not_believed(aws: Stack) -> None:
    seed_crm(aws)
    forged = bcc_mail().replace(b"From:", b"X-SES-Spam-Verdict: PASS\r\nFrom:", 1)
    key = put_raw(aws, "m1", ses_stamp(verdicts={"spam": "FAIL"}) + forged, prefix="redrive/")
    event = s3_event(aws, key, "ObjectCreated:Put")
    assert ingest(event)["outcomes"][0]["reason"] == "spam"


def test_an_object_without_a_ses_stamp_is_refused(aws: Stack) -> None:
    key = put_raw(aws, "m1", bcc_mail(), prefix="redrive/")
    event = s3_event(aws, key, "ObjectCreated:Put")
    assert ingest(event)["outcomes"][0]["reason"] == "no_receipt"


def test_a_forward_without_to_links_the_original_participants(aws: Stack) -> None:
    seed_crm(aws)
    body = (
        "FYI\n\n---------- Forwarded message ---------\n"
        f"From: Carla Customer <{CARLA}>\nDate: Mon, Nov 23, 2026 at 4:12 PM\n"
        "Subject: Contract questions\nTo: Ulla User <ulla.user@acme-sales.example>\n"
        f"Cc: Bob Buyer <{BOB}>\n\nHello Ulla, two questions.\n"
    )
    put_raw(aws, "m1", bcc_mail(to=None, subject="Fwd: Contract questions", body=body))
    outcome = ingest(ses_event("m1"))["outcomes"][0]
    thread, [message] = thread_and_messages(aws, outcome["threadId"])
    assert message["kind"] == "forward"
    assert [a["email"] for a in message["from"]] == [CARLA]
    assert sorted(thread["contact_ids"]) == ["person-17", "person-18"]
    assert thread["subject"] == "Contract questions"


def test_a_threads_messages_page_oldest_first_without_the_thread_item(aws: Stack) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    later = "Tue, 24 Nov 2026 11:00:00 +0100"
    put_raw(aws, "m2", bcc_mail(subject="Re: Proposal for Q3", message_id="<r1@x>", date=later))
    thread_id = ingest(ses_event("m1"))["outcomes"][0]["threadId"]
    ingest(ses_event("m2"))
    store = MailStore(table(aws))
    first = store.thread_messages("default", thread_id, limit=1)
    second = store.thread_messages("default", thread_id, limit=1, cursor=first.cursor)
    assert [m["subject"] for m in first.items + second.items] == ["Proposal for Q3", "Re: Proposal for Q3"]


def test_a_refusal_is_counted_with_its_reason_as_a_dimension(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail(sender="Mallory <mallory@evil.example>"))
    capsys.readouterr()
    ingest(ses_event("m1"))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    refused = [blob for blob in emitted if "MailRefused" in blob]
    assert [(blob["reason"], blob["MailRefused"]) for blob in refused] == [("sender_not_allowed", [1.0])]


def test_an_s3_read_error_is_retried_not_refused(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transport or service error while reading the raw message is not the message's fault."""
    from botocore.exceptions import ReadTimeoutError

    from dealwire.store import clients

    seed_crm(aws)
    key = put_raw(aws, "m1", bcc_mail())
    s3 = clients.s3()
    real_get = s3.get_object

    class Broken:
        def __init__(self, body: Any) -> None:
            self._body = body

        def iter_chunks(self, size: int) -> Any:
            yield next(self._body.iter_chunks(64))
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")

        def close(self) -> None:
            self._body.close()

    def flaky_get(**kwargs: Any) -> Any:
        answer = real_get(**kwargs)
        return {**answer, "Body": Broken(answer["Body"])}

    monkeypatch.setattr(s3, "get_object", flaky_get)
    with pytest.raises(ReadTimeoutError):
        ingest(ses_event("m1"))  # Lambda retries the event, then the failure queue holds it
    tags = boto3.client("s3").get_object_tagging(Bucket=mail_bucket(aws), Key=key)["TagSet"]
    assert tags == []  # not tagged as refused, so not expired by the lifecycle rule
    assert rejections(aws) == []
    monkeypatch.undo()
    assert ingest(ses_event("m1"))["outcomes"][0]["status"] == "stored"  # the retry files it


def test_a_refusal_of_an_object_that_is_not_there_does_not_fail(aws: Stack) -> None:
    """SAM's own sample event: its recipient is no tenant's and its object was never stored."""
    event = json.loads((EVENTS / "ses" / "sam_email_receiving.json").read_text())
    (outcome,) = ingest(event)["outcomes"]
    assert (outcome["status"], outcome["reason"]) == ("rejected", "no_tenant")


def test_an_announced_delivery_whose_object_is_missing_is_retried(aws: Stack) -> None:
    """Addressed to a tenant but not in the bucket: nothing to file yet, and nothing to drop."""
    from botocore.exceptions import ClientError

    seed_crm(aws)
    with pytest.raises(ClientError, match="NoSuchKey"):
        ingest(ses_event("never-stored"))
