"""webhook_docusign per-event CPU beside its floor, AWS requests per event, and cold-start imports."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defusedxml.ElementTree import fromstring

from bench import coldstart
from bench.stubs import AwsStub, stubbed_aws
from dealwire.store.table import envelope_key
from dealwire.webhook.signature import sign

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

WARMUP = 200
EVENTS = 2000
RESULTS = Path(__file__).resolve().parent / "results.md"
OPERATIONS = ("UpdateItem", "TransactWriteItems", "PutObject", "GetSecretValue")
_BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_TIME_GENERATED = re.compile(rb"<TimeGenerated>[^<]*</TimeGenerated>")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    content_type: str
    bodies: list[bytes]


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    handler_ns: list[int]
    floor_ns: list[int]
    requests: Counter[str]
    items: Counter[str]
    events: int


@dataclass(frozen=True, slots=True)
class FirstInvocation:
    cpu_ms: float
    requests: Counter[str]
    items: Counter[str]
    clients: int


def _moment(index: int) -> datetime:
    # A distinct generatedDateTime per event: no two bodies (nor archive keys) are the same.
    return _BASE + timedelta(milliseconds=index)


def _sim_time(index: int) -> str:
    return _moment(index).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # DocuSign writes 7 digits


def scenarios(count: int) -> list[Scenario]:
    from tests.support import encode, fixture_bytes, signer, sim_message

    signers = [signer("1", "sent"), signer("2", "created", routing_order=2)]
    sent = [
        encode(sim_message("envelope-sent", _sim_time(i), status="sent", signers=signers))
        for i in range(count)
    ]
    minimal = [
        encode(sim_message("recipient-completed", _sim_time(i), recipient_id="2")) for i in range(count)
    ]
    # The legacy XML fixture without DocumentPDFs, so every scenario stores one object.
    xml = fixture_bytes("xml_recipient_declined.xml")
    if not _TIME_GENERATED.search(xml):
        raise SystemExit("tests/events/docusign/xml_recipient_declined.xml has no <TimeGenerated>")
    legacy = [
        _TIME_GENERATED.sub(
            f"<TimeGenerated>{_moment(i).strftime('%Y-%m-%dT%H:%M:%S.%f')}0</TimeGenerated>".encode(),
            xml,
            count=1,
        )
        for i in range(count)
    ]
    return [
        Scenario("SIM `envelope-sent`, envelope data, 2 signers", "application/json", sent),
        Scenario("SIM minimal `recipient-completed`", "application/json", minimal),
        Scenario("Legacy XML, recipient declined", "text/xml; charset=utf-8", legacy),
    ]


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send fd 1 to /dev/null: the handler's log line and EMF metrics are still written
    (their CPU counts, as in Lambda), but not onto the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(sink)
        os.close(saved)


class Floor:
    """What any handler of this event must spend: parse and HMAC the body, one DynamoDB write
    and one S3 put through the same stubbed clients."""

    def __init__(self, dynamodb: DynamoDBClient, s3: S3Client, table: str, bucket: str, key: str) -> None:
        self._dynamodb, self._s3 = dynamodb, s3
        self._table, self._bucket, self._key = table, bucket, key
        self._item_key = envelope_key("default", "floor").item()

    def __call__(self, body: bytes, content_type: str) -> None:
        if "xml" in content_type:
            fromstring(body)  # the safe parser: untrusted XML allows no other
        else:
            json.loads(body)
        sign(body, self._key)
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._item_key,
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "sent"}},
        )
        self._s3.put_object(
            Bucket=self._bucket, Key="connect/default/floor", Body=body, ContentType=content_type
        )


def _check(answer: dict[str, Any], scenario: str) -> None:
    if answer.get("statusCode") != 200:
        raise AssertionError(
            f"{scenario}: the handler answered {answer.get('statusCode')}: {answer.get('body')}"
        )


def run(scenario: Scenario, handler: Handler, floor: Floor, stub: AwsStub, warmup: int) -> Result:
    from tests.support import FakeContext, http_event

    # Events are built and signed beforehand: DocuSign's work is not the handler's.
    events = [http_event(body, content_type=scenario.content_type) for body in scenario.bodies]
    context = FakeContext()
    handler_ns: list[int] = []
    floor_ns: list[int] = []
    requests: Counter[str] = Counter()
    items: Counter[str] = Counter()
    clock = time.process_time_ns
    stub.take()
    with quiet_stdout():
        for index, (event, body) in enumerate(zip(events, scenario.bodies, strict=True)):
            # Interleaved, so handler and floor see the same caches, load and frequency.
            start = clock()
            answer = handler(event, context)
            middle = clock()
            floor(body, scenario.content_type)
            end = clock()
            _check(answer, scenario.name)
            handled, written = stub.take()
            if index < warmup:
                continue
            handler_ns.append(middle - start)
            floor_ns.append(end - middle)
            # The floor's own UpdateItem and PutObject (one item) are known: take them off.
            requests.update(handled - Counter(UpdateItem=1, PutObject=1))
            items.update(written - Counter(UpdateItem=1))
    return Result(scenario.name, handler_ns, floor_ns, requests, items, len(handler_ns))


def first_invocation(handler: Handler, stub: AwsStub) -> FirstInvocation:
    """The first event after import: clients built, the tenant's secret fetched, parsers imported."""
    from tests.support import FakeContext, encode, http_event, signer, sim_message

    body = encode(sim_message("envelope-sent", _sim_time(-1), status="sent", signers=[signer("1", "sent")]))
    event = http_event(body)
    stub.take()
    clients_before = stub.clients
    with quiet_stdout():
        start = time.process_time_ns()
        answer = handler(event, FakeContext())
        cpu = time.process_time_ns() - start
    _check(answer, "first invocation")
    requests, items = stub.take()
    return FirstInvocation(cpu / 1e6, requests, items, stub.clients - clients_before)


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f}"


def _p95(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _per_event(requests: Counter[str], items: Counter[str], events: int) -> str:
    names = list(OPERATIONS) + sorted(set(requests) - set(OPERATIONS))
    parts = []
    for name in names:
        part = f"{name} {requests[name] / events:g}"
        if items[name] and items[name] != requests[name]:
            part += f" ({items[name] / requests[name]:g} items)"
        parts.append(part)
    return " · ".join(parts)


def _machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if names:
            model = f"{names[0]} ({platform.machine()})"
    return f"{model}, {os.cpu_count()} CPUs"


def render(results: list[Result], first: FirstInvocation, cold: coldstart.ColdStart) -> str:
    lines = [
        f"`make bench` on {datetime.now(UTC).date().isoformat()}: {_machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
        f"Per event: CPU time (`time.process_time_ns()`) of `lambda_handler`, {EVENTS} events per scenario "
        f"after {WARMUP} warm-up, network stubbed at botocore `before-send` (validation, serialization, "
        "signing and parsing still run), environment as in the tests (tracing off). Floor, interleaved "
        "event by event: parse the same bytes (`json.loads`; defusedxml for XML) + HMAC-SHA256 + one "
        "`UpdateItem` + one `PutObject` through the same clients.",
        "",
        "| Scenario | Handler CPU median (p95) | Floor median (p95) | Handler / floor (goal ≤ 1.5x) "
        "| AWS requests per event |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        handler, floor = statistics.median(result.handler_ns), statistics.median(result.floor_ns)
        lines.append(
            f"| {result.scenario} | {_ms(handler)} ms ({_ms(_p95(result.handler_ns))}) "
            f"| {_ms(floor)} ms ({_ms(_p95(result.floor_ns))}) | {handler / floor:.2f}x "
            f"| {_per_event(result.requests, result.items, result.events)} |"
        )
    tests, in_lambda = cold.tests, cold.in_lambda
    lines += [
        "",
        f"First invocation after import (one sample): {first.cpu_ms:.1f} ms CPU, {first.clients} clients "
        f"built; requests {_per_event(first.requests, first.items, 1)}.",
        "",
        f"| Cold-start import, fresh interpreter, median of {cold.runs} | `import boto3` "
        "| `import webhook_docusign.app` | Ratio (goal ≤ 1.25x) |",
        "| --- | --- | --- | --- |",
        f"| Tests' environment (tracing off, not in Lambda) | {tests.baseline_ms:.0f} ms "
        f"| {tests.handler_ms:.0f} ms | {tests.ratio:.2f}x |",
        f"| As in Lambda (`LAMBDA_TASK_ROOT` set, tracing on, {len(cold.absent)} dev-only modules absent) "
        f"| {in_lambda.baseline_ms:.0f} ms | {in_lambda.handler_ms:.0f} ms | {in_lambda.ratio:.2f}x |",
        "",
        "Heaviest imports under `webhook_docusign.app` as in Lambda (`-X importtime`, one run; depth 1 = "
        "imported by the handler module itself):",
        "",
        "| Module | Depth | Cumulative | Self |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{cost.module}` | {cost.depth} | {cost.cumulative_ms:.1f} ms | {cost.self_ms:.1f} ms |"
        for cost in cold.heaviest
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    began = time.perf_counter()
    # Settings from template.yaml, fake credentials, no endpoint: exactly the tests' environment.
    import tests.conftest  # noqa: F401
    from tests.support import ACCOUNT_ID, HMAC_KEY

    secret = json.dumps({"docusignAccountId": ACCOUNT_ID, "hmacKeys": [HMAC_KEY], "timeZone": "UTC"})
    stub = AwsStub(secret)
    with stubbed_aws(stub):
        from dealwire.settings import webhook_settings
        from dealwire.store import clients
        from webhook_docusign import app

        first = first_invocation(app.lambda_handler, stub)
        settings = webhook_settings()
        floor = Floor(
            clients.dynamodb(), clients.s3(), settings.table_name, settings.documents_bucket, HMAC_KEY
        )
        results = [
            run(scenario, app.lambda_handler, floor, stub, WARMUP) for scenario in scenarios(WARMUP + EVENTS)
        ]
    cold = coldstart.measure()
    report = render(results, first, cold)
    RESULTS.write_text(report)
    print(report)
    print(f"({time.perf_counter() - began:.1f} s; also written to {RESULTS})", file=sys.stderr)


if __name__ == "__main__":
    main()
