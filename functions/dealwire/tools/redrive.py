"""Re-feed a failure queue's messages to where they failed, once the cause is fixed.

    python -m dealwire.tools.redrive --queue <QueueUrl> [--max 100] [--dry-run]

Every asynchronous path of dealwire ends in a failure queue (docs/reliability.md), and each
kind of message there says where it came from:

- an asynchronous invocation that used up its retries (mail_ingest, crm_projection,
  stage_trigger, integrations): Lambda's record holds the function and the event, which is
  invoked again, asynchronously, exactly as it was;
- an event EventBridge or Scheduler could not deliver: the message is the event, its
  ``TARGET_ARN`` attribute the function, which is invoked with it;
- a table stream batch stream_publisher failed on: Lambda's record names the shard and the
  sequence range; the records are read again from the stream (DynamoDB keeps them 24 hours)
  and the function is invoked with them as its event source would;
- a message of a queue's own redrive policy (document jobs, poll cycles): it is sent back to
  the queue that gave up on it.

Every function is idempotent on what it is re-fed, so a message redriven twice does no
harm. A message is deleted only once it has been handed on; one that cannot be (an unknown
shape, stream records already trimmed) stays, and the report says why. Credentials, region
and endpoint are boto3's. The report is JSON. Exit status: 0 every message handed on,
1 some kept, 2 misused.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

EXIT_KEPT, EXIT_USAGE = 1, 2
# Long enough to hand a message on; a message not deleted by then is visible again.
_VISIBILITY_SECONDS = 120


class Unredrivable(Exception):
    """A message that cannot be handed on (it stays in the queue)."""


@dataclass(frozen=True)
class Redelivery:
    """Where a message goes again: a function (invoked asynchronously) or a queue."""

    kind: str  # "function" | "queue"
    target: str
    payload: bytes


@dataclass
class Report:
    redriven: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "kept": self.kept}


def _json(text: str) -> Any:  # noqa: ANN401 - a message body is any JSON
    try:
        return json.loads(text)
    except ValueError:
        return None


def _attribute(message: MessageTypeDef, name: str) -> str | None:
    found = message.get("MessageAttributes", {}).get(name)
    return found.get("StringValue") if found else None


def _stream_value(value: Any) -> Any:  # noqa: ANN401 - a stream record's values
    """A stream record as the event source hands it to Lambda (times as epoch seconds)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        import base64  # noqa: PLC0415 - only binary attributes need it

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _stream_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stream_value(v) for v in value]
    return value


class Redrive:
    def __init__(
        self,
        sqs: SQSClient,
        invoke: Callable[[str, bytes], None],
        streams: DynamoDBStreamsClient | None = None,
    ) -> None:
        self._sqs = sqs
        self._invoke = invoke
        self._streams = streams
        self._sources: dict[str, list[str]] = {}

    def plan(self, queue_url: str, message: MessageTypeDef) -> Redelivery:
        """Where ``message`` of ``queue_url`` goes again; ``Unredrivable`` says why not."""
        body = message.get("Body", "")
        document = _json(body)
        target = _attribute(message, "TARGET_ARN")
        if target:
            # EventBridge's and Scheduler's dead letters: the event itself, and its target.
            return Redelivery("function", target, body.encode())
        if isinstance(document, dict) and isinstance(document.get("requestContext"), dict):
            function = document["requestContext"].get("functionArn")
            if not isinstance(function, str):
                raise Unredrivable("a Lambda failure record without requestContext.functionArn")
            if "DDBStreamBatchInfo" in document:
                return Redelivery("function", function, self._stream_batch(document["DDBStreamBatchInfo"]))
            if "requestPayload" in document:
                return Redelivery("function", function, json.dumps(document["requestPayload"]).encode())
            raise Unredrivable("a Lambda failure record that holds neither the event nor a stream batch")
        sources = self._dead_letter_sources(queue_url)
        if len(sources) == 1:
            return Redelivery("queue", sources[0], body.encode())
        if not sources:
            raise Unredrivable("not a failure record, and no queue sends this one its dead letters")
        raise Unredrivable(f"several queues send this one their dead letters ({', '.join(sources)})")

    def run(self, queue_url: str, *, limit: int, dry_run: bool = False) -> Report:
        report = Report()
        # Each message received, by id, with its latest receipt (a dry run gives them all back).
        received: dict[str, str] = {}
        while len(received) < limit:
            answer = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, limit - len(received)),
                VisibilityTimeout=_VISIBILITY_SECONDS,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=1,
            )
            messages = answer.get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in received]
            received.update((m["MessageId"], m["ReceiptHandle"]) for m in messages)
            if not fresh:
                break
            for message in fresh:
                self._one(queue_url, message, report, dry_run=dry_run)
        if dry_run:
            for handle in received.values():
                self._sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        return report

    def _one(self, queue_url: str, message: MessageTypeDef, report: Report, *, dry_run: bool) -> None:
        try:
            redelivery = self.plan(queue_url, message)
        except Unredrivable as refusal:
            report.kept.append({"messageId": message["MessageId"], "reason": str(refusal)})
            return
        if not dry_run:
            if redelivery.kind == "queue":
                self._sqs.send_message(QueueUrl=redelivery.target, MessageBody=redelivery.payload.decode())
            else:
                self._invoke(redelivery.target, redelivery.payload)
            self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        where = f"{redelivery.kind} {redelivery.target}"
        report.redriven[where] = report.redriven.get(where, 0) + 1

    def _dead_letter_sources(self, queue_url: str) -> list[str]:
        if queue_url not in self._sources:
            answer = self._sqs.list_dead_letter_source_queues(QueueUrl=queue_url)
            self._sources[queue_url] = list(answer.get("queueUrls", []))
        return self._sources[queue_url]

    def _stream_batch(self, batch: dict[str, Any]) -> bytes:
        """The batch's records, read again from the stream, as the function's event."""
        if self._streams is None:
            raise Unredrivable("a stream batch, and no DynamoDB Streams client to read it again")
        stream_arn, start, end = batch["streamArn"], batch["startSequenceNumber"], batch["endSequenceNumber"]
        iterator: str | None
        try:
            iterator = self._streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=batch["shardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=start,
            ).get("ShardIterator")
        except self._streams.exceptions.TrimmedDataAccessException as exc:
            raise Unredrivable(f"the stream no longer holds records from {start} (kept 24 hours)") from exc
        records: list[dict[str, Any]] = []
        while iterator:
            answer = self._streams.get_records(ShardIterator=iterator)
            page = answer.get("Records", [])
            for record in page:
                if int(record["dynamodb"]["SequenceNumber"]) > int(end):
                    iterator = None
                    break
                records.append({**_stream_value(record), "eventSourceARN": stream_arn})
            else:
                iterator = answer.get("NextShardIterator") if page else None
        if not records:
            raise Unredrivable(f"the stream holds no records between {start} and {end}")
        return json.dumps({"Records": records}).encode()


def lambda_invoke() -> Callable[[str, bytes], None]:
    """Invoke a function asynchronously, as its event source did."""
    import boto3  # noqa: PLC0415 - the tool's own client

    client = boto3.client("lambda")

    def invoke(function: str, payload: bytes) -> None:
        client.invoke(FunctionName=function, InvocationType="Event", Payload=payload)

    return invoke


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dealwire.tools.redrive", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--queue", required=True, help="the failure queue's URL")
    parser.add_argument("--max", type=int, default=100, help="at most this many messages (100)")
    parser.add_argument("--dry-run", action="store_true", help="say where each would go; change nothing")
    args = parser.parse_args(argv)
    if args.max < 1:
        parser.error("--max must be at least 1")
    import boto3  # noqa: PLC0415 - after the arguments

    redrive = Redrive(boto3.client("sqs"), lambda_invoke(), boto3.client("dynamodbstreams"))
    report = redrive.run(args.queue, limit=args.max, dry_run=args.dry_run)
    sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    return EXIT_KEPT if report.kept else 0


if __name__ == "__main__":
    sys.exit(main())
