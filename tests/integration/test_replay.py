"""The operator's replay of the archive, under moto: the same receive path, harmless any number of times."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import boto3

from dealwire.store import table as layout
from dealwire.store.envelopes import EnvelopeStore
from dealwire.tools import replay as cli
from infra.local.resources import seed_tenant
from tests.integration.conftest import forget_containers
from tests.integration.helpers import object_keys, table
from tests.support import ACCOUNT_ID, ENVELOPE_ID, HMAC_KEY, TENANT_ID, FakeContext, fixture_bytes, http_event

if TYPE_CHECKING:
    import pytest

    from infra.local.template import Stack

LIFE = (
    "sim_envelope_sent.json",
    "sim_recipient_delivered.json",
    "sim_recipient_completed.json",
    "sim_recipient_completed_last.json",
    "sim_envelope_completed.json",
)


def deliver(*names: str) -> None:
    from webhook_docusign import app

    for name in names:
        answer = app.lambda_handler(http_event(fixture_bytes(name)), FakeContext())
        assert answer["statusCode"] == 200, answer


def forget_envelope(stack: Stack, envelope_id: str = ENVELOPE_ID) -> None:
    """The table loses the envelope (a restore from an old backup, a bug's bad writes)."""
    dynamodb = boto3.client("dynamodb")
    pk = layout.envelope_key(TENANT_ID, envelope_id).pk
    items = dynamodb.query(
        TableName=table(stack), KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}}
    )["Items"]
    for item in items:
        dynamodb.delete_item(TableName=table(stack), Key={"pk": item["pk"], "sk": item["sk"]})


def tracked(stack: Stack) -> tuple[Any, list[Any]]:
    found = EnvelopeStore(table(stack)).tracker(TENANT_ID, ENVELOPE_ID)
    assert found is not None
    return found.envelope["status"], [(r["recipient_id"], r["status"]) for r in found.recipients]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()  # what the webhook logged before
    code = cli.main(["--tenant", TENANT_ID, *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_a_replay_rebuilds_what_the_table_lost_and_a_second_changes_nothing(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(*LIFE)
    recorded = tracked(aws)
    forget_envelope(aws)

    code, first = run(capsys)
    assert code == 0
    assert (first["scanned"], first["replayed"], first["refused"]) == (5, 5, 0)
    assert tracked(aws) == recorded
    assert EnvelopeStore(table(aws)).envelope(TENANT_ID, ENVELOPE_ID)["last_source"] == "replay"  # type: ignore[index]

    code, second = run(capsys)
    assert (code, second["changed"], second["unchanged"]) == (0, 0, 5)


def test_a_replay_of_one_envelope_from_a_time_leaves_the_rest_alone(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(*LIFE)
    forget_envelope(aws)
    # Only what was generated from Alice's signature on (16:07:46): the envelope comes back from there.
    code, report = run(capsys, "--envelope", ENVELOPE_ID, "--since", "2024-03-04T16:07:00Z")
    assert (code, report["replayed"]) == (0, 3)
    assert tracked(aws)[0] == "completed"
    code, other = run(capsys, "--envelope", "00000000-0000-4000-8000-000000000000")
    assert (code, other["scanned"]) == (0, 0)


def test_refused_bodies_are_tried_after_a_fix_and_those_still_refused_are_named(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from webhook_docusign import app

    seed_tenant(aws, TENANT_ID, account_id="0" * 8 + ACCOUNT_ID[8:], hmac_keys=[HMAC_KEY])
    refused = app.lambda_handler(http_event(fixture_bytes("sim_envelope_completed.json")), FakeContext())
    assert refused["statusCode"] == 403  # another account's: kept under connect-rejected/
    unreadable = app.lambda_handler(http_event(b'{"event": 1}'), FakeContext())
    assert unreadable["statusCode"] == 400
    assert len(object_keys(aws, f"connect-rejected/{TENANT_ID}/")) == 2
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY])  # the fix
    forget_containers()  # the operator's tool is a process of its own

    code, report = run(capsys)
    assert (code, report["scanned"]) == (0, 0)  # connect/ is empty: nothing was accepted
    code, report = run(capsys, "--rejected")
    assert code == cli.EXIT_REFUSED
    assert (report["replayed"], report["changed"], report["refused"]) == (1, 1, 1)
    (still,) = report["refusals"]
    assert still["reason"] == "schema_violation"
    assert tracked(aws)[0] == "completed"
    # The body that reads now is archived beside the accepted ones.
    assert len(object_keys(aws, f"connect/{TENANT_ID}/{ENVELOPE_ID}/")) == 1


def test_a_poll_read_in_the_archive_is_replayed_as_a_read(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from dealwire.envelope_reads import EnvelopeReads
    from dealwire.store.archive import Archive
    from tests.integration.helpers import bucket

    document = json.loads(fixture_bytes("aggregate_envelope_completed.json"))
    reads = EnvelopeReads(Archive(bucket(aws)), EnvelopeStore(table(aws)))
    assert reads.record(TENANT_ID, ACCOUNT_ID, document, source="poll").changed
    forget_envelope(aws)
    code, report = run(capsys)
    assert (code, report["replayed"], report["changed"]) == (0, 1, 1)
    assert tracked(aws)[0] == "completed"


def test_misuse_is_told_apart_from_refusals(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--tenant", "nobody"]) == cli.EXIT_USAGE
    assert "no tenant" in capsys.readouterr().err
    assert cli.main(["--tenant", TENANT_ID, "--since", "yesterday"]) == cli.EXIT_USAGE
    assert "ISO 8601" in capsys.readouterr().err
    assert cli.main(["--tenant", TENANT_ID], environ={}) == cli.EXIT_USAGE
    assert "not configured: DEALWIRE_TABLE_NAME" in capsys.readouterr().err
    # As the README runs it: the webhook's names, no Powertools setting.
    names = (
        "DEALWIRE_TABLE_NAME",
        "DEALWIRE_DOCUMENTS_BUCKET",
        "DEALWIRE_TENANT_SECRET_PREFIX",
        "DEALWIRE_DEFAULT_TENANT_ID",
    )
    assert cli.main(["--tenant", TENANT_ID], environ={name: os.environ[name] for name in names}) == 0


def test_the_one_off_invocation_answers_the_report_or_a_refusal(aws: Stack) -> None:
    from connect_replay import app

    deliver(LIFE[0])
    assert app.lambda_handler({"tenantId": TENANT_ID}, FakeContext())["replayed"] == 1
    assert app.lambda_handler({"tenantId": "../x"}, FakeContext())["error"] == "invalid_request"
    assert app.lambda_handler({"tenantId": "nobody"}, FakeContext())["error"] == "refused"


def test_a_read_dealwire_cannot_record_is_kept_and_reported_not_raised(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from dealwire.envelope_reads import EnvelopeReads
    from dealwire.store.archive import Archive
    from tests.integration.helpers import bucket

    reads = EnvelopeReads(Archive(bucket(aws)), EnvelopeStore(table(aws)))
    recorded = reads.record(
        TENANT_ID, ACCOUNT_ID, {"envelopeId": ENVELOPE_ID, "status": "sent"}, source="poll"
    )
    assert recorded.result is None
    assert recorded.refused is not None
    assert recorded.refused.startswith("schema_violation")  # no timestamp to order it by
    (kept,) = object_keys(aws, f"connect/{TENANT_ID}/{ENVELOPE_ID}/")
    assert "_api-poll-unreadable_" in kept
    assert EnvelopeStore(table(aws)).envelope(TENANT_ID, ENVELOPE_ID) is None
    code, report = run(capsys)
    assert (code, report["refused"]) == (cli.EXIT_REFUSED, 1)  # replayed, and still refused
