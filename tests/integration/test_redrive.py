"""dealwire.tools.redrive under moto: each failure queue's messages go back where they failed.

moto runs no Lambda code without Docker, so the function side is this process: an invoked
function's ARN is resolved to its handler in template.yaml and the handler is called with
the payload, as Lambda would call it.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dealwire.store.crm import CrmProjection
from dealwire.tools.redrive import Redrive, main
from tests.integration.helpers import table
from tests.integration.test_stream_publisher import stream_event
from tests.support import FakeContext

if TYPE_CHECKING:
    from infra.local.template import Stack

PERSON_EVENT = {
    "version": "0",
    "id": "4b4c7a1e-0f1e-4f7a-9a51-3a7d2f8c1e01",
    "detail-type": "person.upserted",
    "source": "crm",
    "account": "123456789012",
    "time": "2026-12-06T08:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "tenantId": "default",
        "personId": "person-redriven",
        "name": "Rita Redriven",
        "emails": ["rita@example.com"],
        "updatedAt": "2026-12-06T08:00:00Z",
    },
}


class Functions:
    """Lambda's side of an asynchronous invoke: the handler the ARN names, in this process."""

    def __init__(self, stack: Stack, *, run: bool = True) -> None:
        self._stack = stack
        self._run = run
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def arn(self, logical: str) -> str:
        return self._stack.get_att(logical, "Arn")

    def __call__(self, function: str, payload: bytes) -> None:
        name = function.split(":function:", 1)[1].split(":", 1)[0]
        (logical,) = [
            f
            for f in self._stack.resources("AWS::Serverless::Function")
            if self._stack.physical_name(f) == name
        ]
        event = json.loads(payload)
        self.calls.append((logical, event))
        if self._run:
            module, handler = self._stack.function_handler(logical).rsplit(".", 1)
            getattr(importlib.import_module(module), handler)(event, FakeContext())


def queue(stack: Stack, logical: str) -> str:
    return stack.ref(logical)


def left(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def rita(stack: Stack) -> list[dict[str, Any]]:
    return CrmProjection(table(stack)).persons("default", ["person-redriven"])


def test_an_invocation_that_used_up_its_retries_is_invoked_again_as_it_was(aws: Stack) -> None:
    functions = Functions(aws)
    failures = queue(aws, "CrmEventFailureQueue")
    record = {
        "version": "1.0",
        "timestamp": "2026-12-06T08:01:00.000Z",
        "requestContext": {
            "requestId": "c7b1",
            "functionArn": functions.arn("CrmProjectionFunction") + ":$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": PERSON_EVENT,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "Throughput exceeds the current capacity",
            "errorType": "ClientError",
        },
    }
    boto3.client("sqs").send_message(QueueUrl=failures, MessageBody=json.dumps(record))
    assert rita(aws) == []
    report = Redrive(boto3.client("sqs"), functions).run(failures, limit=10)
    assert [(logical, event) for logical, event in functions.calls] == [
        ("CrmProjectionFunction", PERSON_EVENT)
    ]
    assert report.kept == []
    assert sum(report.redriven.values()) == 1
    assert [person["name"] for person in rita(aws)] == ["Rita Redriven"]
    assert left(failures) == 0


def test_an_event_eventbridge_could_not_deliver_goes_to_its_target_with_its_own_id(aws: Stack) -> None:
    functions = Functions(aws)
    failures = queue(aws, "CrmEventFailureQueue")
    strings = {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/dealwire-test/CrmEvents",
        "TARGET_ARN": functions.arn("CrmProjectionFunction"),
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Lambda throttled the invocation",
    }
    boto3.client("sqs").send_message(
        QueueUrl=failures,
        MessageBody=json.dumps(PERSON_EVENT),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in strings.items()},
    )
    Redrive(boto3.client("sqs"), functions).run(failures, limit=10)
    assert functions.calls == [("CrmProjectionFunction", PERSON_EVENT)]
    assert [person["name"] for person in rita(aws)] == ["Rita Redriven"]
    # Twice is harmless: the projection keeps the newest version, and this is the same one.
    attributes = {k: {"DataType": "String", "StringValue": v} for k, v in strings.items()}
    boto3.client("sqs").send_message(
        QueueUrl=failures, MessageBody=json.dumps(PERSON_EVENT), MessageAttributes=attributes
    )
    Redrive(boto3.client("sqs"), functions).run(failures, limit=10)
    assert [person["name"] for person in rita(aws)] == ["Rita Redriven"]


def test_a_dead_lettered_job_goes_back_to_the_queue_that_gave_up_on_it(aws: Stack) -> None:
    sqs = boto3.client("sqs")
    dead, jobs = queue(aws, "DocumentJobDeadLetterQueue"), queue(aws, "DocumentJobQueue")
    job = json.dumps({"kind": "fetch_documents", "tenantId": "default", "envelopeId": "e-1"})
    sqs.send_message(QueueUrl=dead, MessageBody=job)
    functions = Functions(aws)
    report = Redrive(sqs, functions).run(dead, limit=10)
    assert functions.calls == []
    assert report.redriven == {f"queue {jobs}": 1}
    (back,) = sqs.receive_message(QueueUrl=jobs)["Messages"]
    assert back["Body"] == job
    assert left(dead) == 0


def test_a_failed_stream_batch_is_read_again_from_the_stream(aws: Stack) -> None:
    dynamodb = boto3.client("dynamodb")
    for n in range(3):
        dynamodb.put_item(TableName=table(aws), Item={"pk": {"S": f"T#default#X{n}"}, "sk": {"S": "A"}})
    expected = stream_event(aws)["Records"]
    streams = boto3.client(
        "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{aws.region}.amazonaws.com"
    )
    stream_arn = expected[0]["eventSourceARN"]
    (shard,) = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    functions = Functions(aws, run=False)
    record = {
        "requestContext": {
            "requestId": "s1",
            "functionArn": functions.arn("StreamPublisherFunction"),
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-12-06T08:02:00.000Z",
        # The last two of the three: the first was published before the batch failed.
        "DDBStreamBatchInfo": {
            "shardId": shard["ShardId"],
            "startSequenceNumber": expected[1]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": expected[2]["dynamodb"]["SequenceNumber"],
            "batchSize": 2,
            "streamArn": stream_arn,
        },
    }
    failures = queue(aws, "StreamFailureQueue")
    boto3.client("sqs").send_message(QueueUrl=failures, MessageBody=json.dumps(record))
    Redrive(boto3.client("sqs"), functions, streams).run(failures, limit=10)
    ((logical, event),) = functions.calls
    assert logical == "StreamPublisherFunction"
    for change in (r["dynamodb"] for r in event["Records"]):
        assert isinstance(change.pop("ApproximateCreationDateTime"), int)
    assert event["Records"] == expected[1:]


def test_what_cannot_be_handed_on_stays_with_its_reason_and_a_dry_run_changes_nothing(aws: Stack) -> None:
    sqs = boto3.client("sqs")
    failures = queue(aws, "MailFailureQueue")
    sqs.send_message(QueueUrl=failures, MessageBody="not a failure record")
    functions = Functions(aws)
    redrive = Redrive(sqs, functions)
    report = redrive.run(failures, limit=10)
    assert report.redriven == {}
    ((kept),) = report.kept
    assert kept["reason"] == "not a failure record, and no queue sends this one its dead letters"
    crm = queue(aws, "CrmEventFailureQueue")
    sqs.send_message(
        QueueUrl=crm,
        MessageBody=json.dumps(PERSON_EVENT),
        MessageAttributes={
            "TARGET_ARN": {"DataType": "String", "StringValue": functions.arn("CrmProjectionFunction")}
        },
    )
    planned = redrive.run(crm, limit=10, dry_run=True)
    assert sum(planned.redriven.values()) == 1
    assert functions.calls == []
    assert left(crm) == 1
    assert sqs.receive_message(QueueUrl=crm)["Messages"][0]["Body"] == json.dumps(PERSON_EVENT)


def test_the_command_refuses_a_limit_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/q", "--max", "0"])
    assert exited.value.code == 2
    assert "--max must be at least 1" in capsys.readouterr().err
