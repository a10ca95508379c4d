"""The local stack end to end: signed Connect callbacks in; tracker, document job and bus events out."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from dealwire.store.envelopes import EnvelopeStore
from dealwire.webhook.signature import sign
from infra.local.streams import MappingSettings, StreamPoller
from infra.local.template import Stack, load_template
from tests.support import encode, signer, sim_message

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 10.0


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def post_signed(stack: LocalStack, message: dict[str, Any], *, key: str | None = None) -> tuple[int, Any]:
    body = encode(message)
    secret = key or stack.state["docusign_hmac_keys"][0]
    headers = {"Content-Type": "application/json", "X-DocuSign-Signature-1": sign(body, secret)}
    return post(stack.state["webhook_url"], body, headers)


def eventually(probe: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """``probe()`` once it is truthy; fail naming ``what`` if it is not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def drain(stack: LocalStack, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue now (bodies as JSON), deleted as read."""
    sqs = stack.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def envelope_messages(envelope_id: str, account_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sent = sim_message(
        "envelope-sent",
        "2026-11-25T06:00:00.0000000Z",
        status="sent",
        signers=[signer("1", "sent"), signer("2", "sent", routing_order=2)],
        envelope_id=envelope_id,
        account_id=account_id,
    )
    completed = sim_message(
        "envelope-completed",
        "2026-11-25T06:05:00.0000000Z",
        status="completed",
        signers=[signer("1", "completed"), signer("2", "completed", routing_order=2)],
        envelope_id=envelope_id,
        account_id=account_id,
    )
    return sent, completed


def test_signed_callbacks_track_the_envelope_and_publish(local_stack: LocalStack) -> None:
    state = local_stack.state
    envelope_id = str(uuid.uuid4())
    sent, completed = envelope_messages(envelope_id, state["docusign_account_id"])

    for message in (sent, completed):
        status, answer = post_signed(local_stack, message)
        assert status == 200, answer
        assert answer["envelopeId"] == envelope_id
        assert answer["status"] == "applied"

    tracker = EnvelopeStore(state["table_name"], client=local_stack.client("dynamodb")).tracker(
        state["tenant_id"], envelope_id
    )
    assert tracker is not None
    assert tracker.envelope["status"] == "completed"
    assert tracker.envelope["account_id"] == state["docusign_account_id"]
    assert tracker.progress == "2/2 signed"

    def jobs_for_envelope() -> list[dict[str, Any]]:
        return [
            job for job in drain(local_stack, state["document_queue_url"]) if job["envelopeId"] == envelope_id
        ]

    jobs = eventually(jobs_for_envelope, "the fetch_documents job")
    events: dict[str, list[dict[str, Any]]] = {}

    def bus_events() -> bool:
        for event in drain(local_stack, state["bus_tap_queue_url"]):
            if event["detail"].get("envelopeId") == envelope_id:
                events.setdefault(event["detail-type"], []).append(event)
        return {"envelope.status_changed", "envelope.completed"} <= events.keys()

    eventually(bus_events, "envelope.status_changed and envelope.completed on the bus")
    # Anything a retried stream batch sent twice would have arrived by now.
    time.sleep(0.5)
    jobs += jobs_for_envelope()

    assert [job["kind"] for job in jobs] == ["fetch_documents"]
    assert jobs[0]["tenantId"] == state["tenant_id"]
    assert [e["detail"]["status"] for e in events["envelope.status_changed"]] == ["sent", "completed"]
    assert len(events["envelope.completed"]) == 1
    assert all(e["source"] == "dealwire" for group in events.values() for e in group)


def test_a_bad_signature_is_refused(local_stack: LocalStack) -> None:
    sent, _ = envelope_messages(str(uuid.uuid4()), local_stack.state["docusign_account_id"])
    other_key = "Pq7Wn3Lx0Ry8Ts5Uv2Mz6Ko1Jh4Gf9Ed3Cb7Ai2Xs0="

    status, answer = post_signed(local_stack, sent, key=other_key)

    assert status == 401
    assert answer["error"] == "bad_signature"


def test_an_unknown_route_is_404(local_stack: LocalStack) -> None:
    status, answer = post(f"{local_stack.state['http_url']}/webhooks/unknown", b"{}", {})

    assert status == 404
    assert answer == {"message": "Not Found"}


class _FailingOn:
    """A stream consumer that reports one record (by key) as failed, every time."""

    def __init__(self, bad_key: str) -> None:
        self.bad_key = bad_key
        self.batches: list[list[dict[str, Any]]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.batches.append(event["Records"])
        failures = [
            {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}
            for record in event["Records"]
            if record["dynamodb"]["Keys"]["pk"]["S"] == self.bad_key
        ]
        return {"batchItemFailures": failures}


def test_stream_retries_from_the_failed_record_then_gives_up_to_the_failure_queue(
    local_stack: LocalStack,
) -> None:
    state = local_stack.state
    dynamodb, sqs = local_stack.client("dynamodb"), local_stack.client("sqs")
    name = f"e2e-stream-{uuid.uuid4().hex[:8]}"
    stream_arn = dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for key in ("good-1", "bad", "good-2"):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}})
    consumer = _FailingOn("bad")
    stop = threading.Event()
    stack = Stack(name=state["stack_name"], region=state["region"], template=load_template())
    poller = StreamPoller(
        stack=stack,
        function="StreamPublisherFunction",
        worker=consumer,
        stream_arn=stream_arn,
        settings=MappingSettings(
            batch_size=10, maximum_retry_attempts=1, report_item_failures=True, on_failure_arn=queue_arn
        ),
        endpoint_url=state["aws_endpoint_url"],
        stop=stop,
    )
    poller.start()
    try:
        failures = eventually(lambda: drain(local_stack, queue_url), "the OnFailure record")
    finally:
        stop.set()
        poller.join(5)

    keys = [[record["dynamodb"]["Keys"]["pk"]["S"] for record in batch] for batch in consumer.batches]
    assert keys == [["good-1", "bad", "good-2"], ["bad", "good-2"]]
    first = consumer.batches[0][0]
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventVersion"] == "1.1"
    assert first["eventSourceARN"] == stream_arn
    assert first["awsRegion"] == state["region"]
    [failure] = failures
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2
    assert info["startSequenceNumber"] == consumer.batches[1][0]["dynamodb"]["SequenceNumber"]
    assert info["streamArn"] == stream_arn
