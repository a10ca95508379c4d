"""What each function does when AWS fails it: an answer that makes its caller retry, and a retry
that lands exactly once.

Faults are injected at botocore's ``before-call`` event (``helpers.failing``), so a fault is
what the code sees once botocore's own retries are spent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from dealwire.contracts.crm import PersonUpserted
from dealwire.domain.changes import plan_writes
from dealwire.store import clients
from dealwire.store.crm import CrmProjection
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.mail import MailStore, ThreadChanged
from dealwire.store.table import Throttled, WriteConflict, person_key, serialize
from tests.integration.api_support import ULLA, api, call, crm, filed
from tests.integration.helpers import cancelled, failing, item_count, object_keys, table
from tests.integration.test_document_job_end_to_end import document_fetch, signed_and_queued, sqs_event
from tests.integration.test_stream_publisher import drain, stream_event, tap
from tests.mail_support import CARLA, bcc_mail, ingest, put_raw, seed_crm, ses_event, thread_and_messages
from tests.support import FakeContext, fixture_bytes, http_event
from tests.unit.test_changes import snapshot_timeline

if TYPE_CHECKING:
    from infra.docusign_sim import Simulator
    from infra.local.template import Stack
    from tests.infra.test_docusign_sim import Api

__all__ = ["document_fetch"]  # a fixture, used by name below
THROTTLED = "ThrottlingException"


def webhook(body: bytes) -> tuple[int, dict[str, Any]]:
    from webhook_docusign import app

    answer = app.lambda_handler(http_event(body), FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def publish(stack: Stack) -> dict[str, Any]:
    from stream_publisher import app

    result: dict[str, Any] = app.lambda_handler(
        stream_event(stack), FakeContext(function_name="stream_publisher")
    )
    return result


# -- the envelope store's conflicts ----------------------------------------------------------


def test_a_transaction_conflict_is_retried_and_lands(aws: Stack) -> None:
    conflicts = {"n": 0}

    def conflict_once(**_: Any) -> None:
        conflicts["n"] += 1
        if conflicts["n"] == 1:
            raise cancelled("TransactionConflict", "None", "None")

    dynamodb = clients.dynamodb()
    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", conflict_once)
    try:
        status, answer = webhook(fixture_bytes("sim_envelope_sent.json"))
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", conflict_once)
    assert (status, answer["status"], conflicts["n"]) == (200, "applied", 2)


def test_writers_that_keep_conflicting_end_in_a_write_conflict_and_a_500(aws: Stack) -> None:
    def always(**_: Any) -> None:
        raise cancelled("TransactionConflict", "None", "None")

    event = snapshot_timeline(2)[0]
    writes = plan_writes(event, tenant_id="t", archive_key="k")
    dynamodb = clients.dynamodb()
    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", always)
    try:
        with pytest.raises(WriteConflict):
            EnvelopeStore(table(aws)).apply("t", event.envelope_id, writes)
        status, answer = webhook(fixture_bytes("sim_envelope_sent.json"))
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", always)
    assert (status, answer["error"]) == (500, "internal")  # DocuSign retries it
    assert item_count(aws) == 0


@pytest.mark.parametrize("code", [THROTTLED, "ProvisionedThroughputExceededException", "InternalServerError"])
def test_the_webhook_answers_500_when_dynamodb_fails_and_the_retry_lands(aws: Stack, code: str) -> None:
    body = fixture_bytes("sim_envelope_sent.json")
    with failing(clients.dynamodb(), "TransactWriteItems", code):
        assert webhook(body)[0] == 500
    assert item_count(aws) == 0
    assert webhook(body)[1]["status"] == "applied"
    assert len(object_keys(aws, "connect/")) == 1  # the redelivery overwrote its own archive


def test_the_webhook_answers_500_when_secrets_manager_fails(aws: Stack) -> None:
    with failing(clients.secretsmanager(), "GetSecretValue", "InternalServiceError"):
        status, answer = webhook(fixture_bytes("sim_envelope_sent.json"))
    assert (status, answer["error"]) == (500, "internal")
    assert object_keys(aws) == []  # nothing stored before the signature could be checked
    assert webhook(fixture_bytes("sim_envelope_sent.json"))[0] == 200


# -- reads the mail path batches ---------------------------------------------------------------


def test_unprocessed_keys_are_asked_for_again(aws: Stack) -> None:
    crm("person.upserted", personId="p1", emails=["a@x.example"], updatedAt="2026-11-20T10:00:00Z")
    crm("person.upserted", personId="p2", emails=["b@x.example"], updatedAt="2026-11-20T10:00:00Z")
    store = CrmProjection(table(aws))
    calls = {"n": 0}

    def hold_back_the_first_answer(parsed: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            responses = parsed["Responses"][table(aws)]
            held = responses.pop()
            parsed["UnprocessedKeys"] = {table(aws): {"Keys": [{"pk": held["pk"], "sk": held["sk"]}]}}

    events = store.client.meta.events
    events.register("after-call.dynamodb.BatchGetItem", hold_back_the_first_answer)
    try:
        found = store.contacts("default", ["a@x.example", "b@x.example"])
    finally:
        events.unregister("after-call.dynamodb.BatchGetItem", hold_back_the_first_answer)
    assert found == {"a@x.example": "p1", "b@x.example": "p2"}
    assert calls["n"] == 2


def test_keys_left_unprocessed_every_time_end_in_throttled(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dealwire.store.table.time.sleep", lambda _: None)
    store = CrmProjection(table(aws))

    asked: list[dict[str, Any]] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["RequestItems"])

    def hold_back_everything(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Responses"] = {}
        parsed["UnprocessedKeys"] = asked[-1]

    events = store.client.meta.events
    events.register("before-parameter-build.dynamodb.BatchGetItem", remember)
    events.register("after-call.dynamodb.BatchGetItem", hold_back_everything)
    try:
        with pytest.raises(Throttled):
            store.contacts("default", ["a@x.example"])
    finally:
        events.unregister("before-parameter-build.dynamodb.BatchGetItem", remember)
        events.unregister("after-call.dynamodb.BatchGetItem", hold_back_everything)
    assert len(asked) == 5  # every attempt asked again, backing off in between


# -- mail: a thread that moved, a failed transaction -----------------------------------------


def test_a_thread_that_moved_between_read_and_write_is_linked_again(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    thread_id = ingest(ses_event("m1"))["outcomes"][0]["threadId"]
    real_thread = MailStore.thread
    reads = {"n": 0}

    def an_older_read(self: MailStore, tenant_id: str, wanted: str) -> Any:
        reads["n"] += 1
        state = real_thread(self, tenant_id, wanted)
        if reads["n"] == 1 and state is not None:
            # What a read just before another message's write saw: one version behind.
            from dataclasses import replace

            return replace(state, version=state.version - 1)
        return state

    monkeypatch.setattr(MailStore, "thread", an_older_read)
    put_raw(
        aws,
        "m2",
        bcc_mail(
            message_id="<r1@x>",
            subject="Re: Proposal for Q3",
            extra={"References": "<CAF=q3-proposal@mail.gmail.com>"},
        ),
    )
    outcome = ingest(ses_event("m2"))["outcomes"][0]
    assert (outcome["status"], outcome["threadId"], reads["n"]) == ("stored", thread_id, 2)
    thread, messages = thread_and_messages(aws, thread_id)
    assert (thread["message_count"], len(messages)) == (2, 2)


def test_a_thread_that_keeps_moving_fails_the_delivery_for_a_retry(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    dynamodb = clients.dynamodb()

    def thread_moved(**_: Any) -> None:
        raise cancelled("None", "None", "ConditionalCheckFailed")

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", thread_moved)
    try:
        with pytest.raises(ThreadChanged):
            ingest(ses_event("m1"))
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", thread_moved)
    assert ingest(ses_event("m1"))["outcomes"][0]["status"] == "stored"


@pytest.mark.parametrize("code", [THROTTLED, "InternalServerError"])
def test_mail_ingest_raises_on_a_dynamodb_failure_and_its_retry_files_once(aws: Stack, code: str) -> None:
    """Raised: Lambda retries the asynchronous event twice, then MailFailureQueue keeps it."""
    seed_crm(aws)
    put_raw(aws, "m1", bcc_mail())
    with failing(clients.dynamodb(), "TransactWriteItems", code), pytest.raises(ClientError, match=code):
        ingest(ses_event("m1"))
    assert ingest(ses_event("m1"))["outcomes"][0]["status"] == "stored"
    assert ingest(ses_event("m1"))["outcomes"][0]["status"] == "duplicate"


def test_mail_ingest_failures_go_to_its_failure_queue(aws: Stack) -> None:
    from infra.local.template import load_template

    function = load_template()["Resources"]["MailIngestFunction"]["Properties"]
    config = function["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["MailFailureQueue", "Arn"]
    }


# -- the CRM projection -------------------------------------------------------------------------


def test_a_person_that_changed_between_read_and_write_is_read_again(aws: Stack) -> None:
    store = CrmProjection(table(aws))
    store.upsert_person(
        PersonUpserted(
            tenant_id="default", person_id="p1", emails=["a@x.example"], updated_at="2026-11-20T10:00:00Z"
        )
    )
    newer = person_key("default", "p1")
    raced = {"done": False}

    def a_newer_version_lands_first(**_: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            boto3.client("dynamodb").put_item(
                TableName=table(aws),
                Item=serialize(
                    {
                        "pk": newer.pk,
                        "sk": newer.sk,
                        "person_id": "p1",
                        "name": "Newest",
                        "emails": ["a@x.example"],
                        "updated_at": "2026-11-20T12:00:00.0000000Z",
                    }
                ),
            )

    store.client.meta.events.register("before-call.dynamodb.TransactWriteItems", a_newer_version_lands_first)
    try:
        applied = store.upsert_person(
            PersonUpserted(
                tenant_id="default",
                person_id="p1",
                name="Middle",
                emails=["a@x.example"],
                updated_at="2026-11-20T11:00:00Z",
            )
        )
    finally:
        store.client.meta.events.unregister(
            "before-call.dynamodb.TransactWriteItems", a_newer_version_lands_first
        )
    assert applied is False  # the version check caught the race; the newer one stands
    person = store._get(newer)
    assert person is not None
    assert person["name"] == "Newest"


@pytest.mark.parametrize("operation", ["GetItem", "TransactWriteItems"])
def test_crm_projection_raises_on_a_dynamodb_failure_for_eventbridge_to_retry(
    aws: Stack, operation: str
) -> None:
    with failing(clients.dynamodb(), operation, THROTTLED), pytest.raises(ClientError, match=THROTTLED):
        crm("person.upserted", personId="p1", emails=["a@x.example"], updatedAt="2026-11-20T10:00:00Z")
    assert crm("person.upserted", personId="p1", emails=["a@x.example"], updatedAt="2026-11-20T10:00:00Z")[
        "applied"
    ]
    assert CrmProjection(table(aws)).contacts("default", ["a@x.example"]) == {"a@x.example": "p1"}


# -- the API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["GetItem", "Query"])
@pytest.mark.parametrize("code", [THROTTLED, "ProvisionedThroughputExceededException"])
def test_the_api_answers_429_when_dynamodb_is_over_its_rate(aws: Stack, operation: str, code: str) -> None:
    thread = filed(aws, "shared", to=f"Carla <{CARLA}>")
    with failing(clients.dynamodb(), operation, code):
        answer = call("GET", f"/v1/threads/{thread}", claims=ULLA)
    assert answer["statusCode"] == 429
    assert answer["headers"]["Retry-After"] == "1"
    assert json.loads(answer["body"])["error"]["code"] == "rate_limited"
    assert api("GET", f"/v1/threads/{thread}", claims=ULLA)[0] == 200


@pytest.mark.parametrize("operation", ["GetItem", "Query"])
def test_the_api_answers_500_when_dynamodb_fails(aws: Stack, operation: str) -> None:
    thread = filed(aws, "shared", to=f"Carla <{CARLA}>")
    with failing(clients.dynamodb(), operation, "InternalServerError"):
        status, body = api("GET", f"/v1/threads/{thread}", claims=ULLA)
    assert (status, body["error"]["code"]) == (500, "internal")
    assert api("GET", f"/v1/threads/{thread}", claims=ULLA)[0] == 200


# -- the stream publisher -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation"), [("sqs", "SendMessage"), ("events", "PutEvents")], ids=["sqs", "eventbridge"]
)
def test_a_failed_send_reports_the_record_and_its_redelivery_repeats_the_same_event_ids(
    aws: Stack, service: str, operation: str
) -> None:
    url = tap(aws)
    for name in ("sim_envelope_sent.json", "sim_envelope_completed.json"):
        assert webhook(fixture_bytes(name))[0] == 200
    client = clients.sqs() if service == "sqs" else clients.events()
    with failing(client, operation, THROTTLED):
        answer = publish(aws)
    assert answer["batchItemFailures"], "the failed record is reported for Lambda to retry"
    first = [event["detail"]["eventId"] for event in drain(url)]
    assert publish(aws) == {"batchItemFailures": []}  # the redelivered batch
    again = [event["detail"]["eventId"] for event in drain(url)]
    # Everything the retried batch holds is sent again, with the same ids: consumers
    # deduplicate on detail.eventId (docs/events.md).
    assert set(first) <= set(again)
    jobs = [job for job in drain(aws.ref("DocumentJobQueue")) if job["kind"] == "fetch_documents"]
    assert len(jobs) >= 1
    assert len({job["jobId"] for job in jobs}) == 1


# -- the document job ---------------------------------------------------------------------------


def test_the_document_job_retries_when_its_record_fails_after_the_upload(
    aws: Stack, sim: Simulator, api: Api, document_fetch: Any
) -> None:
    envelope_id, jobs = signed_and_queued(aws, sim, api)
    event = sqs_event(aws, jobs)
    with failing(clients.dynamodb(), "UpdateItem", THROTTLED), pytest.raises(BatchProcessingError):
        document_fetch.lambda_handler(event, FakeContext(function_name="document_fetch"))
    assert EnvelopeStore(table(aws)).signed_documents("default", envelope_id) == {}
    assert document_fetch.lambda_handler(event, FakeContext(function_name="document_fetch")) == {
        "batchItemFailures": []
    }
    assert set(EnvelopeStore(table(aws)).signed_documents("default", envelope_id)) == {
        "combined",
        "certificate",
    }
    assert sorted(
        key.rsplit("/", 1)[1] for key in object_keys(aws, f"documents/default/{envelope_id}/signed/")
    ) == [
        "certificate.pdf",
        "combined.pdf",
    ]
