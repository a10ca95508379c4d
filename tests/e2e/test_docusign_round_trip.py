"""make run's whole loop: an envelope sent and signed in the simulator ends with its PDFs in S3."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.table import envelope_key
from infra.docusign_sim import SimulatorControl
from infra.local.send import send_envelope
from tests.e2e.test_local_stack import drain, eventually, post_signed
from tests.support import fixture_bytes

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_sent_and_signed_in_docusign_the_signed_pdf_and_certificate_land_in_s3(
    local_stack: LocalStack,
) -> None:
    state = local_stack.state
    envelope_id = send_envelope(state, local_stack.client("secretsmanager"), deal="deal-2002")
    control = SimulatorControl(state["docusign_url"])
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)

    dynamodb = local_stack.client("dynamodb")
    key = envelope_key(state["tenant_id"], envelope_id).item()

    def recorded() -> dict[str, object] | None:
        item = dynamodb.get_item(TableName=state["table_name"], Key=key).get("Item", {})
        documents = item.get("signed_documents", {}).get("M")
        return documents if isinstance(documents, dict) and documents else None

    documents = eventually(recorded, "the document job to record the signed documents", timeout=30)
    assert set(documents) == {"combined", "certificate"}
    s3 = local_stack.client("s3")
    for name, certificate in (("combined", False), ("certificate", True)):
        stored_key = documents[name]["M"]["key"]["S"]  # type: ignore[index]
        body = s3.get_object(Bucket=state["documents_bucket"], Key=stored_key)["Body"].read()
        document_id = name
        assert body == control.document(envelope_id, document_id, certificate=certificate)


def test_after_a_duplicate_callback_a_signed_envelope_still_ends_with_documents_and_events(
    local_stack: LocalStack,
) -> None:
    """The README's walkthrough: the sample callback posted twice, then an envelope sent and signed.

    moto cancelled the duplicate's transaction by swapping a copy of the table in, and the
    stream poller read the old table's shard from then on: no more events, no document job.
    """
    state = local_stack.state
    sample = json.loads(fixture_bytes("sim_envelope_sent.json"))
    answers = [post_signed(local_stack, sample)[1]["status"] for _ in range(2)]
    assert answers[1] in {"duplicate", "stale"}, answers

    envelope_id = send_envelope(state, local_stack.client("secretsmanager"), deal="deal-1001")
    control = SimulatorControl(state["docusign_url"])
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)

    tracker = EnvelopeStore(state["table_name"], client=local_stack.client("dynamodb"))
    eventually(
        lambda: (
            (found := tracker.tracker(state["tenant_id"], envelope_id)) and found.progress == "2/2 signed"
        ),
        "the tracker to show 2/2 signed",
        timeout=30,
    )
    key = envelope_key(state["tenant_id"], envelope_id).item()
    dynamodb = local_stack.client("dynamodb")
    eventually(
        lambda: (
            dynamodb.get_item(TableName=state["table_name"], Key=key)
            .get("Item", {})
            .get("signed_documents", {})
            .get("M")
        ),
        "the document job to store the signed documents",
        timeout=30,
    )
    seen: set[str] = set()

    def published() -> bool:
        for event in drain(local_stack, state["bus_tap_queue_url"]):
            if event["detail"].get("envelopeId") == envelope_id:
                seen.add(event["detail-type"])
        return "envelope.completed" in seen

    eventually(published, "envelope.completed on the bus", timeout=30)
    assert "envelope.status_changed" in seen


def test_the_table_stream_keeps_only_what_its_poller_has_yet_to_consume(local_stack: LocalStack) -> None:
    """After the callbacks above, the oldest record left in the stream is no longer the first one written."""
    state = local_stack.state
    streams = local_stack.client("dynamodbstreams")
    arn = local_stack.client("dynamodb").describe_table(TableName=state["table_name"])["Table"][
        "LatestStreamArn"
    ]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    first = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])

    def trimmed() -> bool:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1)["Records"]
        return not records or int(records[0]["dynamodb"]["SequenceNumber"]) > first

    eventually(trimmed, "the consumed stream records to be dropped", timeout=30)
    with pytest.raises(ClientError) as behind:
        streams.get_shard_iterator(
            StreamArn=arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=str(first),
        )
    assert behind.value.response["Error"]["Code"] == "TrimmedDataAccessException"
