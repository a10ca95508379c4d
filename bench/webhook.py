"""webhook_docusign per-event CPU beside its floor, AWS requests per event, and cold-start imports."""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore import xform_name
from defusedxml.ElementTree import fromstring

from bench import coldstart
from bench.stubs import AwsStub, stubbed_aws
from dealwire.webhook.signature import sign

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

WARMUP = 200
EVENTS = 2000
LATENCY_EVENTS = 200
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


class Recorder:
    """The API calls a handler makes, as it made them: operation and parameters, in order.

    Registered at ``provide-client-params``, before any handler of botocore's can change
    them (S3 wraps a bytes ``Body`` in a file object, for one), so a replay builds the
    same requests again.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, dict[str, Any]]] = []
        self.on = False

    def attach(self, client: Any) -> None:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if self.on:
                self.calls.append((client, xform_name(model.name), dict(params)))

        client.meta.events.register("provide-client-params.*.*", record)

    def take(self) -> list[tuple[Any, str, dict[str, Any]]]:
        taken, self.calls = self.calls, []
        return taken


class Floor:
    """What any handler of this event must spend: parse and HMAC the body, then exactly the
    AWS requests the handler made for it (the same transaction items, the same put),
    through the same stubbed clients."""

    def __init__(self, key: str, recorder: Recorder) -> None:
        self._key = key
        self.recorder = recorder

    def __call__(self, body: bytes, content_type: str, calls: list[tuple[Any, str, dict[str, Any]]]) -> None:
        if "xml" in content_type:
            fromstring(body)  # the safe parser: untrusted XML allows no other
        else:
            json.loads(body)
        sign(body, self._key)
        for client, method, params in calls:
            getattr(client, method)(**params)


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
    recorder = floor.recorder
    stub.take()
    with quiet_stdout():
        # A first pass records the requests the handler makes for each event, for the floor
        # to make again. The stub answers every one alike, so a second pass is the same work.
        calls = []
        for event in events:
            recorder.on = True
            _check(handler(event, context), scenario.name)
            recorder.on = False
            calls.append(recorder.take())
        stub.take()
        for index, (event, body) in enumerate(zip(events, scenario.bodies, strict=True)):
            # Interleaved, so handler and floor see the same load and frequency; which goes
            # first alternates, so neither gains from the other having just warmed botocore.
            order = (True, False) if index % 2 else (False, True)
            for handler_turn in order:
                start = clock()
                if handler_turn:
                    answer = handler(event, context)
                else:
                    floor(body, scenario.content_type, calls[index])
                spent = clock() - start
                if handler_turn:
                    _check(answer, scenario.name)
                    handled, written = stub.take()
                    if index >= warmup:
                        handler_ns.append(spent)
                        requests.update(handled)
                        items.update(written)
                else:
                    replayed, _ = stub.take()
                    if index >= warmup:
                        floor_ns.append(spent)
            if replayed != handled:
                raise AssertionError(f"the floor made {replayed}, the handler {handled}")
    return Result(scenario.name, handler_ns, floor_ns, requests, items, len(handler_ns))


@dataclass(frozen=True, slots=True)
class Latency:
    """Wall time per event when every AWS answer takes 5-10 ms, as from Lambda in-region."""

    events: int
    handler_ms: float
    sequential_ms: float
    concurrent_ms: float


def latency(scenario: Scenario, handler: Handler, floor: Floor, stub: AwsStub, count: int) -> Latency:
    """The handler's wall time per event beside its two requests made one after the other
    (as the handler makes them) and both at once, on two threads, through the same clients."""
    from tests.support import FakeContext, http_event

    events = [http_event(body, content_type=scenario.content_type) for body in scenario.bodies[:count]]
    context = FakeContext()
    recorder = floor.recorder
    handler_s: list[float] = []
    sequential_s: list[float] = []
    concurrent_s: list[float] = []
    clock = time.perf_counter
    stub.latency = (0.005, 0.010)
    try:
        with quiet_stdout(), ThreadPoolExecutor(max_workers=2) as pool:
            for event in events:
                recorder.on = True
                start = clock()
                _check(handler(event, context), scenario.name)
                handler_s.append(clock() - start)
                recorder.on = False
                calls = recorder.take()
                start = clock()
                for client, method, params in calls:
                    getattr(client, method)(**params)
                sequential_s.append(clock() - start)
                start = clock()
                waiting = [pool.submit(getattr(client, method), **params) for client, method, params in calls]
                for future in waiting:
                    future.result()
                concurrent_s.append(clock() - start)
                stub.take()
    finally:
        stub.latency = None
    return Latency(
        len(events),
        statistics.median(handler_s) * 1000,
        statistics.median(sequential_s) * 1000,
        statistics.median(concurrent_s) * 1000,
    )


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


def _encoded(value: Any) -> Any:
    """Parameters as JSON: bytes as ``{"__bytes__": base64}`` (``bench.first_call`` decodes)."""
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {name: _encoded(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encoded(item) for item in value]
    return value


def cold_case(handler: Handler, floor: Floor, secret: str, key: str, path: Path) -> Path:
    """Write the cold start's event and the requests the handler makes for it, the
    tenant's secret read among them."""
    from dealwire.store import tenants
    from tests.support import FakeContext, encode, http_event, signer, sim_message

    signers = [signer("1", "sent"), signer("2", "created", routing_order=2)]
    body = encode(sim_message("envelope-sent", _sim_time(-2), status="sent", signers=signers))
    event = http_event(body)
    # Cold, the handler reads the tenant's secret too: forget it, so that read is recorded.
    tenants.reset()
    floor.recorder.on = True
    with quiet_stdout():
        _check(handler(event, FakeContext()), "cold-start event")
    floor.recorder.on = False
    calls = [
        [client.meta.service_model.service_name, method, _encoded(params)]
        for client, method, params in floor.recorder.take()
    ]
    case = {"event": event, "body": body.decode(), "secret": secret, "key": key, "calls": calls}
    path.write_text(json.dumps(case))
    return path


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


def render(results: list[Result], first: FirstInvocation, walls: Latency, cold: coldstart.ColdStart) -> str:
    lines = [
        f"`make bench` on {datetime.now(UTC).date().isoformat()}: {_machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
        f"Per event: CPU time (`time.process_time_ns()`) of `lambda_handler`, {EVENTS} events per scenario "
        f"after {WARMUP} warm-up, network stubbed at botocore `before-send` (validation, serialization, "
        "signing and parsing still run), environment as in the tests (tracing off). Floor, interleaved "
        "event by event (which goes first alternates): parse the same bytes (`json.loads`; defusedxml "
        "for XML) + HMAC-SHA256 + the very AWS requests the handler made for that event (its "
        "transaction's items, its put's body and metadata), made again through the same clients.",
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
    lines += [
        "",
        f"Wall time per event with every AWS answer 5-10 ms late (uniform; median of {walls.events} "
        f"`envelope-sent` events): handler {walls.handler_ms:.1f} ms; its two requests made one after "
        f"the other {walls.sequential_ms:.1f} ms, both at once on two threads {walls.concurrent_ms:.1f} ms.",
        "",
        f"First invocation after import (one sample): {first.cpu_ms:.1f} ms CPU, {first.clients} clients "
        f"built; requests {_per_event(first.requests, first.items, 1)}.",
        "",
        f"Cold start, CPU (`time.process_time`) of the import plus the first event, fresh interpreter, "
        f"median of {cold.runs}. Floor: `import boto3`, the clients the event's requests need on one "
        "session, the body parsed and HMAC'd, those requests made. Handler: `import "
        "webhook_docusign.app` and its first invocation (clients, the tenant's secret, the event).",
        "",
        "| Environment | Floor: import + first = total | Handler: import + first = total "
        "| Ratio (goal ≤ 1.25x) |",
        "| --- | --- | --- | --- |",
    ]
    for label, pair in (
        ("Tests' environment (tracing off, not in Lambda)", cold.tests),
        (
            f"As in Lambda (`LAMBDA_TASK_ROOT` set, tracing on, {len(cold.absent)} dev-only modules absent)",
            cold.in_lambda,
        ),
    ):
        lines.append(f"| {label} | {_start(pair.floor)} | {_start(pair.handler)} | {pair.ratio:.2f}x |")
    lines += [
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


def _start(start: coldstart.Start) -> str:
    return f"{start.import_ms:.0f} + {start.first_ms:.0f} = {start.total_ms:.0f} ms"


def main() -> None:
    began = time.perf_counter()
    # Settings from template.yaml, fake credentials, no endpoint: exactly the tests' environment.
    import tests.conftest  # noqa: F401
    from tests.support import ACCOUNT_ID, HMAC_KEY

    secret = json.dumps({"docusignAccountId": ACCOUNT_ID, "hmacKeys": [HMAC_KEY], "timeZone": "UTC"})
    stub = AwsStub(secret)
    with stubbed_aws(stub):
        from dealwire.store import clients
        from webhook_docusign import app

        first = first_invocation(app.lambda_handler, stub)
        recorder = Recorder()
        for client in (clients.dynamodb(), clients.s3(), clients.secretsmanager()):
            recorder.attach(client)
        floor = Floor(HMAC_KEY, recorder)
        results = [
            run(scenario, app.lambda_handler, floor, stub, WARMUP) for scenario in scenarios(WARMUP + EVENTS)
        ]
        walls = latency(scenarios(LATENCY_EVENTS)[0], app.lambda_handler, floor, stub, LATENCY_EVENTS)
        with tempfile.TemporaryDirectory() as directory:
            case = cold_case(app.lambda_handler, floor, secret, HMAC_KEY, Path(directory) / "case.json")
            cold = coldstart.measure(case)
    report = render(results, first, walls, cold)
    RESULTS.write_text(report)
    print(report)
    print(f"({time.perf_counter() - began:.1f} s; also written to {RESULTS})", file=sys.stderr)


if __name__ == "__main__":
    main()
