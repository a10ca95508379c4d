"""Lambda's DynamoDB event source mapping, locally: poll moto's table streams and invoke the consumer."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.worker import ACCOUNT_ID, InvocationError

if TYPE_CHECKING:
    from infra.local.template import Stack

log = logging.getLogger("dealwire.local.streams")

POLL_SECONDS = 0.2
# Lambda backs off between retries of a failing batch; capped low so a local run stays snappy.
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0
GET_RECORDS_LIMIT = 1000


class Invoker(Protocol):
    def invoke(self, event: dict[str, Any]) -> Any: ...  # noqa: ANN401 - whatever the handler returns


class Checkpoints(Protocol):
    """Where pollers report how far they have consumed a stream (moto_dynamodb.StreamCheckpoints)."""

    def register(self, stream_arn: str, consumer: str) -> None: ...

    def consumed(self, stream_arn: str, consumer: str, sequence_number: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """The event source mapping properties of a template's DynamoDB event, with Lambda's defaults."""

    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    maximum_retry_attempts: int = -1  # -1: retry until the record expires, as Lambda does
    bisect_on_error: bool = False
    report_item_failures: bool = False
    on_failure_arn: str | None = None

    @classmethod
    def from_properties(cls, stack: Stack, properties: dict[str, Any]) -> MappingSettings:
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return cls(
            starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
            batch_size=int(stack.resolve(properties.get("BatchSize", 100))),
            maximum_retry_attempts=int(stack.resolve(properties.get("MaximumRetryAttempts", -1))),
            bisect_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
            on_failure_arn=str(stack.resolve(destination)) if destination else None,
        )


def _json_safe(value: Any) -> Any:  # noqa: ANN401 - attribute values of any shape
    """boto3 decodes binary attributes to bytes; the Lambda event carries them as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_safe(v) for v in value]
    return value


def lambda_record(record: dict[str, Any], region: str, stream_arn: str) -> dict[str, Any]:
    """One GetRecords record as Lambda delivers it in a DynamoDB stream event."""
    change = _json_safe(dict(record["dynamodb"]))
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    last_read: str | None = None  # sequence number of the last record fetched
    attempts: int = 0  # failed invocations of the record at the head of the buffer
    limit: int = 0  # batch size, halved while bisecting a failing batch
    retry_at: float = 0.0


class StreamPoller:
    """Polls one table stream for one function, in a background thread, until ``stop`` is set."""

    def __init__(
        self,
        *,
        stack: Stack,
        function: str,
        worker: Invoker,
        stream_arn: str,
        settings: MappingSettings,
        endpoint_url: str,
        stop: threading.Event,
        poll_seconds: float = POLL_SECONDS,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.function = function
        self.stream_arn = stream_arn
        self.settings = settings
        self._stack = stack
        self._worker = worker
        self._stop = stop
        self._poll_seconds = poll_seconds
        # Untyped on purpose: the stubs' literal types add nothing to passing moto's records along.
        self._streams: Any = boto3.client(
            "dynamodbstreams", region_name=stack.region, endpoint_url=endpoint_url
        )
        self._sqs: Any = boto3.client("sqs", region_name=stack.region, endpoint_url=endpoint_url)
        self._shards: dict[str, _Shard] = {}
        self._function_arn = (
            f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{stack.physical_name(function)}"
        )
        self._thread = threading.Thread(target=self._run, name=f"stream-{function}", daemon=True)
        # Registered now, before any poller starts: none may trim what this one has yet to read.
        self._checkpoints = checkpoints
        self._consumer = f"{function}/{uuid.uuid4().hex[:8]}"
        if checkpoints is not None:
            checkpoints.register(stream_arn, self._consumer)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _done_through(self, record: dict[str, Any]) -> None:
        """Every record up to ``record`` is delivered or given up on: the stream may drop them."""
        if self._checkpoints is not None:
            self._checkpoints.consumed(self.stream_arn, self._consumer, _sequence(record))

    def _run(self) -> None:
        log.info("polling %s for %s", self.stream_arn, self.function)
        while not self._stop.is_set():
            try:
                busy = self._poll_once()
            except (BotoCoreError, ClientError) as exc:
                # moto restarting or shutting down: log, wait, try again.
                log.warning("stream poll for %s failed: %s", self.function, exc)
                busy = False
            except Exception:
                # A bug here must not silently end stream delivery for the rest of the session.
                log.exception("stream poller for %s hit an unexpected error; polling on", self.function)
                busy = False
            if not busy:
                self._stop.wait(self._poll_seconds)

    def _discover(self) -> None:
        """Open an iterator on every shard not seen yet, at the mapping's starting position."""
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self._shards:
                continue
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=self.settings.starting_position,
            )["ShardIterator"]
            self._shards[shard_id] = _Shard(shard_id, iterator, limit=self.settings.batch_size)

    def _poll_once(self) -> bool:
        """Read and deliver what each shard has; True when there may be more to do at once."""
        if not self._shards:
            self._discover()
        busy = False
        for shard in self._shards.values():
            self._fill(shard)
            if shard.buffer and time.monotonic() >= shard.retry_at:
                self._deliver(shard)
                # Straight on while a full batch waits; a retry waits for its back-off instead.
                busy = busy or (len(shard.buffer) >= self.settings.batch_size and shard.retry_at == 0.0)
        return busy

    def _fill(self, shard: _Shard) -> None:
        wanted = min(GET_RECORDS_LIMIT, self.settings.batch_size - len(shard.buffer))
        if wanted <= 0 or shard.iterator is None:
            return
        try:
            page = self._streams.get_records(ShardIterator=shard.iterator, Limit=wanted)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {
                "ExpiredIteratorException",
                "TrimmedDataAccessException",
            }:
                raise
            # Re-open just after the last record read, so nothing is skipped or repeated.
            shard.iterator = self._reopen(shard)
            return
        records = page.get("Records", [])
        shard.buffer.extend(records)
        if records:
            shard.last_read = _sequence(records[-1])
        # No next iterator: the shard is closed and fully read.
        shard.iterator = page.get("NextShardIterator")

    def _reopen(self, shard: _Shard) -> str:
        if shard.last_read is None:
            kind: dict[str, str] = {"ShardIteratorType": self.settings.starting_position}
        else:
            kind = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_read}
        answer = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.shard_id, **kind)
        return str(answer["ShardIterator"])

    def _deliver(self, shard: _Shard) -> None:
        """Invoke the function on the head of the buffer and act on what it reports."""
        batch = shard.buffer[: shard.limit]
        event = {"Records": [lambda_record(r, self._stack.region, self.stream_arn) for r in batch]}
        failed_at: int | None
        function_error: str | None = None
        try:
            response = self._worker.invoke(event)
        except InvocationError as exc:
            log.error("%s failed on %d stream record(s): %s", self.function, len(batch), exc.summary)
            failed_at, function_error = 0, "Unhandled"
            if self.settings.bisect_on_error and len(batch) > 1:
                # Lambda splits a failing batch to isolate the bad record; a split is not a retry.
                shard.limit = max(1, len(batch) // 2)
                shard.retry_at = 0.0
                return
        else:
            failed_at = self._first_failure(batch, response)
        if failed_at is None:
            del shard.buffer[: len(batch)]
            shard.attempts, shard.limit, shard.retry_at = 0, self.settings.batch_size, 0.0
            self._done_through(batch[-1])
            return
        # Lambda resumes from the first failed record: what came before it is done.
        shard.attempts = shard.attempts + 1 if failed_at == 0 else 1
        del shard.buffer[:failed_at]
        if failed_at:
            self._done_through(batch[failed_at - 1])
        failed = batch[failed_at:]
        limit = self.settings.maximum_retry_attempts
        if limit >= 0 and shard.attempts > limit:
            self._give_up(shard, failed, function_error)
            del shard.buffer[: len(failed)]
            shard.attempts, shard.limit, shard.retry_at = 0, self.settings.batch_size, 0.0
            self._done_through(failed[-1])
            return
        delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (shard.attempts - 1))
        log.warning(
            "%s: retrying from stream record %s in %.1f s (attempt %d)",
            self.function,
            _sequence(failed[0]),
            delay,
            shard.attempts + 1,
        )
        shard.retry_at = time.monotonic() + delay

    def _first_failure(self, batch: list[dict[str, Any]], response: Any) -> int | None:  # noqa: ANN401
        """Index of the first record to retry per ``batchItemFailures``; None when all succeeded."""
        if not self.settings.report_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {_sequence(record): index for index, record in enumerate(batch)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                # Lambda treats an unknown or empty identifier as a failure of the whole batch.
                log.error("%s reported an unknown batch item failure %r", self.function, identifier)
                return 0
            indexes.append(positions[identifier])
        return min(indexes)

    def _give_up(self, shard: _Shard, failed: list[dict[str, Any]], function_error: str | None) -> None:
        """Retries exhausted: record the batch on the OnFailure destination, as Lambda does."""
        first, last = failed[0]["dynamodb"], failed[-1]["dynamodb"]
        summary = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": function_error} if function_error else {}),
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": str(first["SequenceNumber"]),
                "endSequenceNumber": str(last["SequenceNumber"]),
                "approximateArrivalOfFirstRecord": _arrival(first),
                "approximateArrivalOfLastRecord": _arrival(last),
                "batchSize": len(failed),
                "streamArn": self.stream_arn,
            },
        }
        destination = self.settings.on_failure_arn
        log.error(
            "%s: gave up on stream records %s..%s after %d attempts; to %s",
            self.function,
            first["SequenceNumber"],
            last["SequenceNumber"],
            shard.attempts,
            destination or "nowhere (no OnFailure destination)",
        )
        if destination is None:
            return
        if not destination.startswith("arn:aws:sqs:"):
            log.error("OnFailure destination %s is not emulated (only SQS is)", destination)
            return
        url = self._sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[1])["QueueUrl"]
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(summary))


def _arrival(change: dict[str, Any]) -> str:
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return created.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(created or "")


def start_pollers(
    stack: Stack,
    workers: dict[str, Invoker],
    stream_arns: dict[str, str],
    endpoint_url: str,
    stop: threading.Event,
    *,
    checkpoints: Checkpoints | None = None,
) -> list[StreamPoller]:
    """One poller per DynamoDB event in the template, all registered with ``checkpoints``, then started."""
    pollers = [
        StreamPoller(
            stack=stack,
            function=function,
            worker=workers[function],
            stream_arn=stream_arns[table],
            settings=MappingSettings.from_properties(stack, properties),
            endpoint_url=endpoint_url,
            stop=stop,
            checkpoints=checkpoints,
        )
        for function, table, properties in stack.stream_mappings()
    ]
    for poller in pollers:
        poller.start()
    return pollers
