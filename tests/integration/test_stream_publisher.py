"""stream_publisher fed the table's real (moto) stream records after webhook writes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.integration.helpers import table
from tests.support import ENVELOPE_ID, FakeContext, fixture_bytes, http_event

if TYPE_CHECKING:
    from infra.local.template import Stack

pytestmark = pytest.mark.usefixtures("aws")


def stream_event(stack: Stack) -> dict[str, Any]:
    """Every record so far on the table's stream, shaped as Lambda delivers them."""
    dynamodb = boto3.client("dynamodb")
    # botocore 1.44 sends stream calls to account endpoints (<account>.streams-ddb...), which
    # moto 5.2.5 does not intercept yet; its classic endpoint is pinned here.
    streams = boto3.client(
        "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{stack.region}.amazonaws.com"
    )
    arn = dynamodb.describe_table(TableName=table(stack))["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            record["eventSourceARN"] = arn
            change = record["dynamodb"]
            change.pop("ApproximateCreationDateTime", None)
            records.append(record)
    return {"Records": records}


def tap(stack: Stack) -> str:
    """An SQS queue subscribed to everything on the bus, to see what was published."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.physical_name("EventBus")
    events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["dealwire"]}))
    events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    return url


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def publish_all(stack: Stack) -> dict[str, Any]:
    from stream_publisher import app as publisher

    return publisher.lambda_handler(stream_event(stack), FakeContext(function_name="stream_publisher"))


def test_completion_publishes_events_and_queues_one_document_job(aws: Stack) -> None:
    from webhook_docusign import app as webhook

    bus_tap = tap(aws)
    for name in (
        "sim_envelope_sent.json",
        "sim_recipient_completed_last.json",
        "sim_envelope_completed.json",
    ):
        assert webhook.lambda_handler(http_event(fixture_bytes(name)), FakeContext())["statusCode"] == 200
    assert publish_all(aws) == {"batchItemFailures": []}
    published = drain(bus_tap)
    kinds = [event["detail-type"] for event in published]
    assert kinds.count("envelope.completed") == 1
    status_changes = [e["detail"] for e in published if e["detail-type"] == "envelope.status_changed"]
    assert [(d["previousStatus"], d["status"]) for d in status_changes] == [
        (None, "sent"),
        ("sent", "completed"),
    ]
    completed = next(e["detail"] for e in published if e["detail-type"] == "envelope.completed")
    assert completed["envelopeId"] == ENVELOPE_ID
    assert completed["dealId"] == "deal-1001"
    jobs = drain(aws.ref("DocumentJobQueue"))
    assert [(job["kind"], job["envelopeId"]) for job in jobs] == [("fetch_documents", ENVELOPE_ID)]
    recipient_changes = [e for e in published if e["detail-type"] == "envelope.recipient_status_changed"]
    assert {e["detail"]["status"] for e in recipient_changes} >= {"completed"}


def test_a_redelivered_batch_publishes_the_same_event_ids(aws: Stack) -> None:
    from webhook_docusign import app as webhook

    bus_tap = tap(aws)
    webhook.lambda_handler(http_event(fixture_bytes("sim_envelope_sent.json")), FakeContext())
    publish_all(aws)
    first = {e["detail"]["eventId"] for e in drain(bus_tap)}
    publish_all(aws)  # the stream delivers at least once
    assert {e["detail"]["eventId"] for e in drain(bus_tap)} == first


def test_minimal_messages_queue_a_refresh_once(aws: Stack) -> None:
    from webhook_docusign import app as webhook

    for _ in range(2):
        body = fixture_bytes("sim_minimal_recipient_completed.json")
        assert webhook.lambda_handler(http_event(body), FakeContext())["statusCode"] == 200
    publish_all(aws)
    jobs = drain(aws.ref("DocumentJobQueue"))
    assert [job["kind"] for job in jobs] == ["refresh_envelope"]


def test_a_bus_failure_reports_the_record_for_retry(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from dealwire.store import clients
    from webhook_docusign import app as webhook

    webhook.lambda_handler(http_event(fixture_bytes("sim_envelope_sent.json")), FakeContext())
    events = clients.events()
    monkeypatch.setattr(
        events,
        "put_events",
        lambda **_: {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
    )
    answer = publish_all(aws)
    assert answer["batchItemFailures"]  # Lambda retries from there, then the failure queue
