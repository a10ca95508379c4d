"""One two-signer envelope's whole life: every AWS request and DocuSign call, priced, beside a naive design.

The life runs through the functions' own handlers, in-process, against moto (in memory) and
the DocuSign simulator (loopback), with the template's resources:

1. ``stage_trigger`` gets one ``deal.stage_changed`` and sends the rule's template to two signers.
2. ``webhook_docusign`` gets the envelope's Connect callbacks, signed with the tenant's key:
   sent, delivered (signer 1), signer 1 completed, delivered (signer 2, generated before
   signer 1 completed: it arrives out of order), signer 1 completed again (a duplicate),
   signer 2 completed, envelope completed. Seven callbacks, six of them new, generated a
   second apart after the send: their order is what decides what is written, and the days
   the envelope is open (DAYS_OPEN) matter only to the naive poller.
3. After each handler, the table's new stream records go to ``stream_publisher`` as Lambda's
   event source mapping would deliver them (``infra.local.streams.lambda_record``).
4. The ``fetch_documents`` job it queued goes to ``document_fetch``: the combined PDF and the
   certificate to S3. Its record goes through the stream once more (documents_stored).

The life runs twice in one process: first in new containers (token, userinfo, template read,
secrets), then again for a second deal in the same, now warm, containers. The warm life is
what an envelope costs in steady state; the cold extras are reported apart.

Counting. AWS: every boto3 client created during the life (the handlers' and Powertools'),
at ``before-parameter-build``, by service and operation; the bench reads the stream and the
queue with clients of its own, made before, and so not counted. What Lambda's event source
mapping spends on SQS for dealwire's job queue (one ReceiveMessage and one DeleteMessage per
job) is added by hand; its idle long polls are a cost per queue, not per envelope, and are
left out of both designs, as are DynamoDB stream reads (free to Lambda triggers). DocuSign:
the simulator's request log (REST and OAuth; its control calls are not in it).

Units (approximate where marked in the report): every DynamoDB item is assumed <= 1 KB, so a
write is 1 write unit, a transactional write 2 per item, a read 1 read unit (strongly
consistent; an eventually consistent read is half), a transactional read 2 per item, a
Query 1 per call (its items assumed to fit in 4 KB). EventBridge is priced per entry (each
<= 64 KB). A conditional write that fails still consumes its units, and is counted.

The naive design (the shape of DocuSign's sample Connect listener), computed from the counted
life, not run: per callback, a listener Lambda that sends it to SQS, a worker Lambda that the
event source feeds (one ReceiveMessage and one DeleteMessage) and that GetItems the envelope
before it PutItems it; a Powertools-style idempotency record per event it handles (the
callbacks, the send and the document job: PutItem in progress, UpdateItem completed); the send
itself PutItems the envelope; one S3 PutObject per document; and a poller that GETs every open
envelope every 15 minutes for as long as it is open (DAYS_OPEN days: 2 x 96 = 192 GETs).
Secrets and tokens are assumed cached in both designs (the warm life).

Prices: PRICES, list prices in us-east-1 as of 2026, requests only (no storage, no Lambda
duration, no data transfer).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock
from uuid import uuid4

from bench.moto_stack import connected_stack
from bench.stubs import every_new_client

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).resolve().parent / "results-lifetime.md"
DAYS_OPEN = 2  # sent to signed by both
POLLS_PER_DAY = 24 * 4  # the naive poller's cycle: every 15 minutes
ENVELOPES = 10_000

PRICES_AS_OF = "2026, us-east-1 list prices, requests only"
# Dollars per unit, and what the unit is.
PRICES: dict[str, tuple[float, str]] = {
    "DynamoDB write": (0.625 / 1_000_000, "write request unit (on demand)"),
    "DynamoDB read": (0.125 / 1_000_000, "read request unit (on demand)"),
    "S3 write": (0.005 / 1_000, "PUT, COPY, POST or LIST request"),
    "S3 read": (0.0004 / 1_000, "GET or HEAD request"),
    "SQS": (0.40 / 1_000_000, "request"),
    "EventBridge": (1.00 / 1_000_000, "event put"),
    "Secrets Manager": (0.05 / 10_000, "API call"),
    "Lambda": (0.20 / 1_000_000, "invocation"),
}
_DYNAMODB_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}
_DYNAMODB_READS = {"GetItem": 1, "Query": 1, "Scan": 1}
_S3_READS = {"GetObject", "HeadObject"}


def units(service: str, operation: str, params: dict[str, Any]) -> tuple[str, int] | None:  # noqa: PLR0911 - one answer per kind of request
    """The priced unit one API call consumes and how many (items assumed <= 1 KB), or None if unpriced."""
    if service == "DynamoDB":
        if operation == "TransactWriteItems":
            return "DynamoDB write", 2 * len(params.get("TransactItems", []))
        if operation == "TransactGetItems":
            return "DynamoDB read", 2 * len(params.get("TransactItems", []))
        if operation == "BatchWriteItem":
            return "DynamoDB write", sum(len(v) for v in params.get("RequestItems", {}).values())
        if operation in _DYNAMODB_WRITES:
            return "DynamoDB write", _DYNAMODB_WRITES[operation]
        if operation in _DYNAMODB_READS:
            return "DynamoDB read", _DYNAMODB_READS[operation]
        return None
    if service == "S3":
        return ("S3 read" if operation in _S3_READS else "S3 write"), 1
    if service == "EventBridge":
        return ("EventBridge", len(params.get("Entries", []))) if operation == "PutEvents" else None
    if service in {"SQS", "Secrets Manager", "Lambda"}:
        return service, 1
    return None


@dataclass
class Ledger:
    """Requests by "service operation", and the priced units they consumed."""

    requests: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    by_function: dict[str, Counter[str]] = field(default_factory=dict)  # the same requests, by function
    function = ""  # the function whose requests are being counted

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.add(model.service_model.service_id, model.name, params)

    def add(self, service: str, operation: str, params: dict[str, Any] | None = None, times: int = 1) -> None:
        self.requests[f"{service} {operation}"] += times
        self.by_function.setdefault(self.function, Counter())[f"{service} {operation}"] += times
        priced = units(service, operation, params or {})
        if priced:
            self.units[priced[0]] += priced[1] * times

    def take(self) -> Ledger:
        """What was counted so far, as a ledger of its own; this one starts again from nothing."""
        taken = Ledger(self.requests.copy(), self.units.copy(), self.by_function)
        self.requests.clear()
        self.units.clear()
        self.by_function = {}
        return taken

    def cost(self) -> float:
        return sum(PRICES[unit][0] * n for unit, n in self.units.items())


@dataclass
class Life:
    """What one envelope's life spent, as counted."""

    envelope_id: str
    aws: Ledger
    docusign: Counter[str]  # by kind: create, documents, and a cold container's token/userinfo/template
    callbacks: int
    new_callbacks: int
    documents: int
    published: list[str]  # detail-types put on the bus, in order
    # Per callback, in arrival order: its name, the webhook's answer ("applied", "stale") and
    # the stream records it caused (0: no item changed, no state written).
    outcomes: list[tuple[str, str, int]]
    transactions: list[int]  # per callback, the TransactWriteItems requests it made

    @property
    def unchanged(self) -> list[str]:
        """The callbacks that wrote no state."""
        return [name for name, _, records in self.outcomes if records == 0]


def _kind(method: str, path: str) -> str:
    if path.startswith("/oauth/"):
        return f"{path.rsplit('/', 1)[-1]} (cold)"
    if "/templates" in path:
        return "template read (cold)"
    if method == "POST" and path.endswith("/envelopes"):
        return "create envelope"
    if "/documents/" in path:
        return f"document {path.rsplit('/', 1)[-1]}"
    return f"{method} {path}"


def _callbacks(envelope_id: str) -> list[tuple[str, bytes]]:
    """The Connect callbacks in the order they arrive: (name, body)."""
    from tests.support import encode, signer, sim_message

    # Generated after the send (whose record carries the time it was made), a second apart:
    # only their order matters to what is written; the days they span are DAYS_OPEN's.
    sent = datetime.now(UTC)

    def at(step: int) -> str:
        return (sent + timedelta(seconds=step)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")

    def message(event: str, step: int, status: str, signers: str, recipient: str | None = None) -> bytes:
        """``signers``: the two signers' statuses, space-separated."""
        one, two = signers.split()
        return encode(
            sim_message(event, at(step), status=status, signers=[signer("1", one), signer("2", two)],
                        recipient_id=recipient, envelope_id=envelope_id)
        )  # fmt: skip

    completed_1 = message("recipient-completed", 4, "sent", "completed delivered", "1")
    return [
        ("envelope sent", message("envelope-sent", 1, "sent", "sent sent")),
        ("signer 1 delivered", message("recipient-delivered", 2, "sent", "delivered sent", "1")),
        ("signer 1 completed", completed_1),
        # Generated before signer 1 completed; Connect delivered it after.
        ("signer 2 delivered (out of order)",
         message("recipient-delivered", 3, "sent", "delivered delivered", "2")),
        ("signer 1 completed again (duplicate)", completed_1),
        ("signer 2 completed", message("recipient-completed", 5, "sent", "completed completed", "2")),
        ("envelope completed", message("envelope-completed", 6, "completed", "completed completed")),
    ]  # fmt: skip


class Readers:
    """The bench's own clients, made before the counting starts: the table's stream, read as
    Lambda's event source mapping reads it (each record once), and the queues it drains."""

    def __init__(self, table: str) -> None:
        import boto3

        from tests.conftest import TEST_STACK

        self.sqs: Any = boto3.client("sqs")
        self.jobs = TEST_STACK.ref("DocumentJobQueue")
        self.tap = _bus_tap(self.sqs)
        # botocore 1.44 sends stream calls to account endpoints, which moto does not intercept.
        self._streams = boto3.client(
            "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{TEST_STACK.region}.amazonaws.com"
        )
        self._arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._seen: set[str] = set()

    def new_records(self) -> list[dict[str, Any]]:
        from infra.local.streams import lambda_record
        from tests.conftest import TEST_STACK

        found = []
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in self._streams.get_records(ShardIterator=iterator)["Records"]:
                if record["eventID"] not in self._seen:
                    self._seen.add(record["eventID"])
                    found.append(lambda_record(record, TEST_STACK.region, self._arn))
        return found

    def drain(self, url: str) -> list[dict[str, Any]]:
        bodies = []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


def live(sim_url: str, deal: str, aws: Ledger, readers: Readers) -> Life:
    """One envelope's life through the handlers; the functions' clients must count into ``aws``."""
    from document_fetch import app as document_fetch
    from infra.docusign_sim import SimulatorControl
    from infra.local.queues import eventbridge_event
    from stage_trigger import app as stage_trigger
    from stream_publisher import app as stream_publisher
    from tests.conftest import TEST_STACK
    from tests.integration.test_document_job_end_to_end import sqs_event
    from tests.support import TENANT_ID, FakeContext, http_event
    from webhook_docusign import app as webhook

    control = SimulatorControl(sim_url)
    control.connect_off()  # the callbacks are the bench's, sent below
    control.clear_requests()
    readers.new_records()  # what came before this life (the rule) is not its cost

    def invoke(function: str, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any]) -> Any:
        aws.function = function
        aws.add("Lambda", "Invoke")
        return handler(event, FakeContext(function_name=function))

    def publish() -> int:
        records = readers.new_records()
        if records:
            answer = invoke("stream_publisher", stream_publisher.lambda_handler, {"Records": records})
            assert answer == {"batchItemFailures": []}, answer
        return len(records)

    detail = {
        "tenantId": TENANT_ID, "dealId": deal, "title": "Bench deal", "pipelineId": "pipeline-1",
        "toStageId": "contract", "updatedAt": "2026-12-01T00:00:00Z",
        "contacts": [{"personId": "p1", "name": "Ann", "email": "ann@x.example", "primary": True},
                     {"personId": "p2", "name": "Ben", "email": "ben@x.example"}],
    }  # fmt: skip
    event = eventbridge_event(
        json.dumps({"id": str(uuid4()), "source": "crm", "detail-type": "deal.stage_changed",
                    "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
    )  # fmt: skip
    (outcome,) = invoke("stage_trigger", stage_trigger.lambda_handler, event)["outcomes"]
    assert outcome["result"] == "sent", outcome
    envelope_id = str(outcome["envelopeId"])
    publish()

    outcomes = []
    callbacks = _callbacks(envelope_id)
    transactions = []
    for name, body in callbacks:
        before = aws.requests["DynamoDB TransactWriteItems"]
        answer = invoke("webhook_docusign", webhook.lambda_handler, http_event(body))
        assert answer["statusCode"] == 200, (name, answer)
        transactions.append(aws.requests["DynamoDB TransactWriteItems"] - before)
        outcomes.append((name, str(json.loads(answer["body"])["status"]), publish()))

    for recipient in ("1", "2"):  # DocuSign's side of the signing, so it serves the documents
        control.sign(envelope_id, recipient)
    jobs = readers.drain(readers.jobs)
    assert [job["kind"] for job in jobs] == ["fetch_documents"], jobs
    # Lambda's event source receives the job and deletes it once handled.
    aws.function = "document_fetch"
    aws.add("SQS", "ReceiveMessage")
    answer = invoke("document_fetch", document_fetch.lambda_handler, sqs_event(TEST_STACK, jobs))
    assert answer == {"batchItemFailures": []}, answer
    aws.add("SQS", "DeleteMessage")
    publish()
    published = [e["detail-type"] for e in readers.drain(readers.tap)]

    docusign = Counter(_kind(r["method"], r["path"]) for r in control.requests())
    return Life(
        envelope_id=envelope_id,
        aws=aws.take(),
        docusign=docusign,
        callbacks=len(callbacks),
        new_callbacks=len({body for _, body in callbacks}),
        documents=sum(n for kind, n in docusign.items() if kind.startswith("document ")),
        published=published,
        outcomes=outcomes,
        transactions=transactions,
    )


def _bus_tap(sqs: Any) -> str:
    """An SQS queue subscribed to everything dealwire puts on the bus (the bench's, not counted)."""
    import boto3

    from tests.conftest import TEST_STACK

    events = boto3.client("events")
    name = f"lifetime-tap-{uuid4().hex[:8]}"
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = TEST_STACK.physical_name("EventBus")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["dealwire"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    return url


def lives(env: dict[str, str], key: Any) -> tuple[Life, Life]:
    """A cold life (new containers), then a warm one (the same containers, a second deal)."""
    from dealwire.automation.rules import RuleDefinition
    from dealwire.settings import document_fetch_settings, stage_trigger_settings
    from dealwire.store.automation import RuleStore
    from document_fetch import app as document_fetch
    from stage_trigger import app as stage_trigger
    from tests.docusign_support import simulator
    from tests.integration.conftest import forget_containers
    from tests.integration.helpers import simulated_access
    from tests.support import TENANT_ID

    rule = RuleDefinition.model_validate(
        {
            "name": "bench", "pipelineId": "pipeline-1", "stageId": "contract", "documentType": "nda",
            "templateId": "tpl-nda", "contactRoles": ["Signer 1", "Signer 2"],
            "fieldMappings": [{"tabLabel": "deal_title", "source": "deal.title"}],
        }
    )  # fmt: skip
    RuleStore(env["DEALWIRE_TABLE_NAME"]).create(
        TENANT_ID, "0" * 32, rule, by="bench", at="2026-12-01T00:00:00Z"
    )
    with simulator(key) as sim, ExitStack() as patches:
        forget_containers()
        # As the handlers have it, with DocuSign the simulator; their calls go in the budget.
        send = simulated_access(stage_trigger_settings(), sim.url, "send")
        documents = simulated_access(document_fetch_settings(), sim.url, "documents")
        patches.enter_context(mock.patch.object(stage_trigger, "docusign_access", return_value=send))
        patches.enter_context(mock.patch.object(document_fetch, "docusign_access", return_value=documents))
        patches.callback(forget_containers)  # counted clients and patched factories stay here
        readers, aws = Readers(env["DEALWIRE_TABLE_NAME"]), Ledger()
        with every_new_client(aws.attach):
            first = live(sim.url, f"deal-{uuid4().hex[:8]}", aws, readers)
            second = live(sim.url, f"deal-{uuid4().hex[:8]}", aws, readers)
    return first, second


def naive(life: Life) -> Ledger:
    """The naive design's requests for the same life (see the module docstring)."""
    design = Ledger()
    events = life.callbacks + 2  # the callbacks, the send, the document job
    design.add("Lambda", "Invoke", times=2 * life.callbacks + 2)  # listener and worker; send; job
    design.add("SQS", "SendMessage", times=life.callbacks)
    design.add("SQS", "ReceiveMessage", times=life.callbacks)
    design.add("SQS", "DeleteMessage", times=life.callbacks)
    design.add("DynamoDB", "GetItem", times=life.callbacks)
    design.add("DynamoDB", "PutItem", times=life.callbacks + 1)  # the worker's; the send's
    design.add("DynamoDB", "PutItem", times=events)  # idempotency: in progress
    design.add("DynamoDB", "UpdateItem", times=events)  # idempotency: completed
    design.add("S3", "PutObject", times=life.documents)
    return design


def naive_docusign(life: Life) -> Counter[str]:
    warm = Counter({k: n for k, n in life.docusign.items() if "(cold)" not in k})
    warm["poll GET envelope (every 15 min)"] = DAYS_OPEN * POLLS_PER_DAY
    return warm


def report(cold: Life, warm: Life) -> str:
    design = naive(warm)
    naive_calls = naive_docusign(warm)
    operations = sorted(set(warm.aws.requests) | set(design.requests) | set(cold.aws.requests))
    ours, theirs = warm.aws.requests.total(), design.requests.total()
    warm_calls = sum(n for k, n in warm.docusign.items() if "(cold)" not in k)
    cold_only = ", ".join(
        f"{kind.removesuffix(' (cold)')} {n}" for kind, n in sorted(cold.docusign.items()) if "(cold)" in kind
    )
    ratio = ours / theirs
    lines = [
        f"One two-signer envelope, stage event to documents stored: {warm.callbacks} Connect callbacks "
        f"({warm.new_callbacks} new, 1 duplicate, 1 out of order), {warm.documents} documents, "
        f"{DAYS_OPEN} days open. dealwire counted through its handlers (moto + loopback simulator); "
        "the naive design computed from the same life (`bench/lifetime.py`'s docstring).",
        "",
        "| AWS requests | dealwire, warm | dealwire, cold containers | naive design |",
        "|---|---|---|---|",
        *(
            f"| {op} | {warm.aws.requests[op]} | {cold.aws.requests[op]} | {design.requests[op]} |"
            for op in operations
        ),
        f"| **total** | **{ours}** | **{cold.aws.requests.total()}** | **{theirs}** |",
        "",
        "dealwire's warm requests by function (the SQS pair is the event source's, for the job):",
        "",
        *(
            f"- {function}: {spent.total()} ("
            + ", ".join(f"{op.split(' ', 1)[1]} {n}" for op, n in sorted(spent.items()))
            + ")"
            for function, spent in warm.aws.by_function.items()
        ),
        "",
        "| DocuSign calls | dealwire, warm | dealwire, cold containers | naive design |",
        "|---|---|---|---|",
        *(
            f"| {kind} | {warm.docusign[kind]} | {cold.docusign[kind]} | {naive_calls[kind]} |"
            for kind in sorted(set(cold.docusign) | set(naive_calls))
        ),
        f"| **total** | **{warm.docusign.total()}** | **{cold.docusign.total()}** "
        f"| **{naive_calls.total()}** |",
        "",
        f"Priced ({PRICES_AS_OF}; DynamoDB units approximate: every item assumed <= 1 KB, reads "
        "strongly consistent):",
        "",
        "| | per envelope | per 10,000 envelopes |",
        "|---|---|---|",
        f"| dealwire, warm | ${warm.aws.cost():.7f} | ${warm.aws.cost() * ENVELOPES:.2f} |",
        f"| dealwire, cold containers | ${cold.aws.cost():.7f} | ${cold.aws.cost() * ENVELOPES:.2f} |",
        f"| naive design | ${design.cost():.7f} | ${design.cost() * ENVELOPES:.2f} |",
        "",
        "Units: "
        + "; ".join(
            f"{unit} dealwire {warm.aws.units[unit]} / naive {design.units[unit]}"
            for unit in PRICES
            if warm.aws.units[unit] or design.units[unit]
        )
        + ".",
        "",
        "Callbacks as they arrived (webhook answer, stream records they caused, transactions): "
        + "; ".join(
            f"{name} ({status}, {records}, {sent})"
            for (name, status, records), sent in zip(warm.outcomes, warm.transactions, strict=True)
        )
        + f". Written nothing: {', '.join(warm.unchanged)}: the signer 1 completion had already "
        "said signer 2 opened it. Every callback still costs its archive put and at least one "
        "conditional transaction.",
        "",
        f"Events published: {', '.join(warm.published)}.",
        "",
        "Goals:",
        f"- AWS requests at most 1/3 of the naive design's: {ours} / {theirs} = {ratio:.2f} "
        f"(price {warm.aws.cost() / design.cost():.2f}x): **{'met' if ratio <= 1 / 3 else 'not met'}**.",
        f"- At most 3 DocuSign calls per envelope with Connect working (create, combined PDF, "
        f"certificate): {warm_calls} warm: **{'met' if warm_calls <= 3 else 'not met'}**; a cold "
        f"container adds {cold_only}. "
        f"The naive poller alone makes {DAYS_OPEN * POLLS_PER_DAY}.",
    ]
    return "\n".join(lines)


def main() -> int:
    with connected_stack("StageTriggerFunction") as (env, key):
        cold, warm = lives(env, key)
    text = report(cold, warm)
    print(text)
    RESULTS.write_text(
        f"# make bench: an envelope's whole life\n\nPython {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs.\n\n{text}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
