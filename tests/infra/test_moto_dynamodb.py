"""The local moto patches: transactions cost what they touch, cancelled ones keep the stream flowing,
consumed stream records are dropped, iterators expire, and requests run one at a time."""

from __future__ import annotations

import http.client
import math
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.server import ThreadedMotoServer

from infra.local import moto_dynamodb
from infra.local.launch import free_port
from infra.local.moto_dynamodb import IteratorRegistry, StreamCheckpoints, StreamLog

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "patched"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A patched moto server in this process, as `make run` starts it, reset to a clean slate."""
    moto_dynamodb.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        # Backends made before install() would keep moto's own iterator registry.
        reset = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        reset.request("POST", "/moto-api/reset")
        reset.getresponse().read()
        reset.close()
        yield url
    finally:
        server.stop()
        moto_dynamodb.uninstall()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def aws(endpoint: str) -> tuple[Any, Any, str]:
    """A fresh table with a stream (its name is TABLE, made unique per test), and clients."""
    global TABLE  # noqa: PLW0603 - one table per test, named for the helpers below
    TABLE = f"patched-{uuid.uuid4().hex[:8]}"
    dynamodb, streams = client("dynamodb", endpoint), client("dynamodbstreams", endpoint)
    stream_arn = dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    return dynamodb, streams, stream_arn


def table_model() -> Any:
    return dynamodb_backends[ACCOUNT][REGION].tables[TABLE]


def put(dynamodb: Any, pk: str, sk: str = "A", **extra: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in extra.items()}}
    dynamodb.put_item(TableName=TABLE, Item=item)


def transaction(pk: str, *, fail: bool, items: int = 2) -> list[dict[str, Any]]:
    """``items`` conditional puts on one envelope's items; with ``fail`` the last one's condition fails."""
    writes: list[dict[str, Any]] = [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": f"R#{n}"}, "v": {"S": "new"}}}}
        for n in range(items)
    ]
    if fail:
        writes[-1]["Put"]["ConditionExpression"] = "v = :never"
        writes[-1]["Put"]["ExpressionAttributeValues"] = {":never": {"S": "never"}}
    return writes


def iterator(streams: Any, stream_arn: str, kind: str = "TRIM_HORIZON", **position: str) -> str:
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    answer = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType=kind, **position
    )
    return str(answer["ShardIterator"])


def read_all(streams: Any, shard_iterator: str) -> tuple[list[dict[str, Any]], str]:
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=shard_iterator, Limit=1000)
        shard_iterator = page["NextShardIterator"]
        if not page["Records"]:
            return records, shard_iterator
        records += page["Records"]


def keys(records: list[dict[str, Any]]) -> list[str]:
    return [f"{r['dynamodb']['Keys']['pk']['S']}/{r['dynamodb']['Keys']['sk']['S']}" for r in records]


def test_a_cancelled_transaction_keeps_the_table_its_items_and_its_stream(aws: tuple[Any, Any, str]) -> None:
    dynamodb, streams, stream_arn = aws
    put(dynamodb, "env-1", "R#1", v="old")
    table = table_model()
    reader = iterator(streams, stream_arn)
    seen, reader = read_all(streams, reader)

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=transaction("env-1", fail=True, items=2))

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    # moto 5.2.5 swaps a copy of the table in; the stream's readers then read a dead shard.
    assert table_model() is table
    assert (
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "env-1"}, "sk": {"S": "R#0"}}).get("Item") is None
    )
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "env-1"}, "sk": {"S": "R#1"}})["Item"][
        "v"
    ] == {"S": "old"}
    assert len(table.stream_shard.items) == len(seen) == 1
    # The reader's iterator, taken before the cancellation, sees the writes after it.
    dynamodb.transact_write_items(TransactItems=transaction("env-2", fail=False, items=2))
    put(dynamodb, "env-3")
    after, _ = read_all(streams, reader)
    assert keys(after) == ["env-2/R#0", "env-2/R#1", "env-3/A"]


def test_a_transaction_copies_only_the_items_it_names_however_big_the_table(
    aws: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, _, _ = aws
    copies = 0
    deepcopy = DynamoType.__deepcopy__

    def counted(self: DynamoType, memo: dict[int, Any]) -> DynamoType:
        nonlocal copies
        copies += 1
        return deepcopy(self, memo)

    monkeypatch.setattr(DynamoType, "__deepcopy__", counted)

    def copies_for_one_transaction(pk: str) -> int:
        nonlocal copies
        copies = 0
        with pytest.raises(ClientError):
            dynamodb.transact_write_items(TransactItems=transaction(pk, fail=True, items=5))
        dynamodb.transact_write_items(TransactItems=transaction(pk, fail=False, items=5))
        return copies

    for n in range(10):
        put(dynamodb, f"small-{n}")
    small = copies_for_one_transaction("probe-1")
    for n in range(1000):
        put(dynamodb, f"big-{n}")
    big = copies_for_one_transaction("probe-2")

    # moto 5.2.5 deep-copies the whole table (and its stream) once per item: ~5,000 x more here.
    assert big == small
    assert small < 100


def test_records_every_poller_consumed_are_dropped_and_sequence_numbers_go_on(
    aws: tuple[Any, Any, str],
) -> None:
    dynamodb, streams, stream_arn = aws
    checkpoints = StreamCheckpoints()
    checkpoints.register(stream_arn, "publisher")
    checkpoints.register(stream_arn, "auditor")
    for n in range(10):
        put(dynamodb, f"env-{n}")
    records, _ = read_all(streams, iterator(streams, stream_arn))
    sequence = [r["dynamodb"]["SequenceNumber"] for r in records]

    checkpoints.consumed(stream_arn, "publisher", sequence[7])
    assert table_model().stream_shard.items.retained == 10  # the auditor has read nothing yet
    checkpoints.consumed(stream_arn, "auditor", sequence[3])
    log = table_model().stream_shard.items
    assert isinstance(log, StreamLog)
    assert (log.retained, log.dropped, checkpoints.dropped) == (6, 4, 4)

    fresh, _ = read_all(streams, iterator(streams, stream_arn))
    assert [r["dynamodb"]["SequenceNumber"] for r in fresh] == sequence[4:]
    after, _ = read_all(
        streams, iterator(streams, stream_arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=sequence[3])
    )
    assert after == fresh
    with pytest.raises(ClientError) as trimmed:
        iterator(streams, stream_arn, "AT_SEQUENCE_NUMBER", SequenceNumber=sequence[2])
    assert trimmed.value.response["Error"]["Code"] == "TrimmedDataAccessException"

    put(dynamodb, "env-10")
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=transaction("env-11", fail=True))
    latest, _ = read_all(
        streams, iterator(streams, stream_arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=sequence[9])
    )
    assert keys(latest) == ["env-10/A"]
    assert int(latest[0]["dynamodb"]["SequenceNumber"]) == int(sequence[9]) + 1


def test_shard_iterators_are_forgotten_15_minutes_after_they_were_issued(
    aws: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, streams, stream_arn = aws
    # Not before the iterators earlier tests left in the registry, and a whole number of seconds:
    # (t + 900) - t is below 900 for about one float t in seventy, which made this test flaky.
    now = [float(math.ceil(time.monotonic()))]
    monkeypatch.setattr(IteratorRegistry, "clock", staticmethod(lambda: now[0]))
    put(dynamodb, "env-1")
    old = iterator(streams, stream_arn)
    for _ in range(50):
        iterator(streams, stream_arn)
    now[0] += 15 * 60
    current = iterator(streams, stream_arn)

    with pytest.raises(ClientError) as expired:
        streams.get_records(ShardIterator=old)
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert len(streams.get_records(ShardIterator=current)["Records"]) == 1
    assert len(dynamodbstreams_backends[ACCOUNT][REGION].shard_iterators) == 2  # current and its successor


def test_dynamodb_requests_run_one_at_a_time(
    aws: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, _, _ = aws
    inside, most = 0, 0
    count = threading.Lock()
    get_item = DynamoDBBackend.get_item

    def slow_get_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with count:
            inside -= 1
        return get_item(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get_item)
    threads = [
        threading.Thread(
            target=dynamodb.get_item,
            kwargs={"TableName": TABLE, "Key": {"pk": {"S": str(n)}, "sk": {"S": "A"}}},
        )
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # moto's threaded server would have run all eight at once.
    assert most == 1
